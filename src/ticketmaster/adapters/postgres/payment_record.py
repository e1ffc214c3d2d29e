"""The purchase's :class:`~ticketmaster.domain.payments.PaymentRecord` in PostgreSQL."""

from __future__ import annotations

import asyncpg


class PostgresPaymentRecord:
    """The purchase's :class:`PaymentRecord` in ``purchases.provider_payment_id``.

    Written once: the first id stored wins, whoever stores it (no lease check is needed,
    since every worker then uses that one payment)."""

    def __init__(self, pool: asyncpg.Pool, purchase_id: str, payment_id: str | None) -> None:
        self._pool = pool
        self._purchase_id = purchase_id
        self._payment_id = payment_id

    @property
    def payment_id(self) -> str | None:
        return self._payment_id

    async def remember(self, payment_id: str) -> str:
        kept: str | None = await self._pool.fetchval(
            """
            UPDATE purchases SET provider_payment_id = coalesce(provider_payment_id, $2), updated_at = now()
            WHERE id = $1 RETURNING provider_payment_id
            """,
            self._purchase_id,
            payment_id,
        )
        if kept is None:
            raise LookupError(f"purchase {self._purchase_id} does not exist")
        self._payment_id = kept
        return kept
