"""Purchases, payments and bookings in PostgreSQL.

Locking contract: starting a purchase locks the hold row (FOR UPDATE) so it cannot race a
cancel, an expiry sweep or a second purchase; workers claim PENDING purchases with
FOR UPDATE SKIP LOCKED and a lease, so a crashed worker's purchase is taken over once the
lease lapses; confirming re-checks the lease holder and PENDING status in the same
transaction that writes the booking, so a purchase is confirmed at most once.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg

from ticketmaster.adapters.postgres.payment_record import PostgresPaymentRecord
from ticketmaster.adapters.postgres.pool import CONNECTION_ERRORS, Conn
from ticketmaster.domain.errors import CommitInDoubt, IdempotencyConflict, Unavailable
from ticketmaster.domain.holds import Hold, HoldStatus
from ticketmaster.domain.purchases import (
    Booking,
    PaymentWindowClosed,
    Purchase,
    PurchaseStatus,
    SeatConflict,
)

PURCHASE_CHANNEL = "purchases_pending"
log = logging.getLogger(__name__)

_PURCHASE_SELECT = """
SELECT p.id, p.hold_id, p.user_id, h.event_id, p.status, p.payment_token, p.amount_cents, p.currency,
       p.attempts, p.failure_reason, h.payment_deadline, p.created_at, p.provider_payment_id,
       p.charge_started_at IS NOT NULL AS charge_started,
       (SELECT b.id FROM bookings b WHERE b.purchase_id = p.id) AS booking_id,
       array(SELECT s.seat_id FROM hold_seats s WHERE s.hold_id = p.hold_id ORDER BY s.seat_id) AS seat_ids
FROM purchases p JOIN holds h ON h.id = p.hold_id
"""


def _purchase(r: asyncpg.Record) -> Purchase:
    return Purchase(
        id=r["id"],
        hold_id=r["hold_id"],
        user_id=r["user_id"],
        event_id=r["event_id"],
        status=PurchaseStatus(r["status"]),
        payment_token=r["payment_token"],
        amount_cents=r["amount_cents"],
        currency=r["currency"],
        seat_ids=tuple(r["seat_ids"]),
        attempts=r["attempts"],
        booking_id=r["booking_id"],
        failure_reason=r["failure_reason"],
        payment_deadline=r["payment_deadline"],
        created_at=r["created_at"],
        provider_payment_id=r["provider_payment_id"],
        charge_started=r["charge_started"],
    )


def _booking(r: asyncpg.Record) -> Booking:
    return Booking(
        id=r["id"],
        purchase_id=r["purchase_id"],
        event_id=r["event_id"],
        user_id=r["user_id"],
        seat_ids=tuple(r["seat_ids"]),
        amount_cents=r["amount_cents"],
        currency=r["currency"],
        purchased_at=r["purchased_at"],
    )


_BOOKING_SELECT = """
SELECT b.*, array(SELECT seat_id FROM booking_seats WHERE booking_id = b.id ORDER BY seat_id) AS seat_ids
FROM bookings b
"""


_KEY_CONSTRAINT = "purchases_user_id_idempotency_key_key"


# Each of the hold's seats is looked up by its key (the LATERAL with OFFSET 0 is not flattened
# into a join). As a join, a planner that believes the seats table small (a venue imported
# minutes before its on-sale, not analyzed yet) read every seat of the venue once per section:
# 33-39 ms per purchase on 5,000 seats in `bench onsale`, PostgreSQL's busiest statement.
PRICE_SQL = """
    SELECT t.price_cents, t.currency
    FROM hold_seats hs
    JOIN holds h ON h.id = hs.hold_id
    JOIN events e ON e.id = h.event_id
    CROSS JOIN LATERAL (
        SELECT s.section_id FROM seats s WHERE s.venue_id = e.venue_id AND s.id = hs.seat_id OFFSET 0
    ) s
    JOIN price_tier_sections pts ON pts.event_id = e.id AND pts.section_id = s.section_id
    JOIN price_tiers t ON t.event_id = pts.event_id AND t.id = pts.tier_id
    WHERE hs.hold_id = $1
"""


class PurchaseTx:
    """Queries of the purchase-acceptance transaction (one connection, one transaction)."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def now(self) -> datetime:
        value: datetime = await self._conn.fetchval("SELECT now()")
        return value

    async def lock_hold(self, hold_id: str, user_id: str) -> tuple[Hold, datetime | None] | None:
        row = await self._conn.fetchrow(
            """
            SELECT h.id, h.event_id, h.user_id, h.status, h.expires_at, h.request_fingerprint,
                   h.payment_deadline,
                   array(SELECT s.seat_id FROM hold_seats s WHERE s.hold_id = h.id ORDER BY s.seat_id)
                     AS seat_ids
            FROM holds h WHERE h.id = $1 AND h.user_id = $2
            FOR UPDATE OF h
            """,
            hold_id,
            user_id,
        )
        if row is None:
            return None
        hold = Hold(
            id=row["id"],
            event_id=row["event_id"],
            user_id=row["user_id"],
            seat_ids=tuple(row["seat_ids"]),
            status=HoldStatus(row["status"]),
            expires_at=row["expires_at"],
            fingerprint=row["request_fingerprint"],
        )
        return hold, row["payment_deadline"]

    async def by_key(self, user_id: str, key: str) -> Purchase | None:
        row = await self._conn.fetchrow(
            _PURCHASE_SELECT + " WHERE p.user_id = $1 AND p.idempotency_key = $2", user_id, key
        )
        return _purchase(row) if row else None

    async def live_for_hold(self, hold_id: str) -> Purchase | None:
        row = await self._conn.fetchrow(
            _PURCHASE_SELECT + " WHERE p.hold_id = $1 AND p.status IN ('PENDING', 'SUCCEEDED')", hold_id
        )
        return _purchase(row) if row else None

    async def price(self, hold_id: str) -> list[tuple[int, str]]:
        """(price, currency) of every seat of the hold, from the event's tiers."""
        rows = await self._conn.fetch(PRICE_SQL, hold_id)
        return [(r["price_cents"], r["currency"]) for r in rows]

    async def start(self, purchase: Purchase, key: str | None, deadline: datetime) -> None:
        """Record the PENDING purchase and move the hold to PURCHASING until ``deadline``;
        IdempotencyConflict if a purchase of another hold took ``key`` since ``by_key`` looked
        (the two POSTs locked different hold rows, so only the unique constraint sees both)."""
        try:
            await self._conn.execute(
                """
                INSERT INTO purchases (id, hold_id, user_id, status, payment_token, idempotency_key,
                                       amount_cents, currency)
                VALUES ($1, $2, $3, 'PENDING', $4, $5, $6, $7)
                """,
                purchase.id,
                purchase.hold_id,
                purchase.user_id,
                purchase.payment_token,
                key,
                purchase.amount_cents,
                purchase.currency,
            )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == _KEY_CONSTRAINT:
                raise IdempotencyConflict("this Idempotency-Key was used for another purchase") from exc
            raise
        await self._conn.execute(
            "UPDATE holds SET status = 'PURCHASING', payment_deadline = $2, updated_at = now() WHERE id = $1",
            purchase.hold_id,
            deadline,
        )
        await self._conn.execute("SELECT pg_notify($1, $2)", PURCHASE_CHANNEL, purchase.id)


class PurchaseListener:
    """A pool connection kept for LISTEN while the worker runs; ``close`` gives it back."""

    def __init__(
        self, pool: asyncpg.Pool, conn: asyncpg.pool.PoolConnectionProxy, wake: Callable[[], None]
    ) -> None:
        self._pool, self._conn, self._wake = pool, conn, wake

    def notified(self, *_: object) -> None:
        self._wake()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._conn.remove_listener(PURCHASE_CHANNEL, self.notified)
            await self._pool.release(self._conn)


class PostgresPurchaseRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def accepting(self) -> AsyncIterator[PurchaseTx]:
        """A transaction for accepting a purchase; commits when the block exits cleanly
        (CommitInDoubt when the connection breaks during the commit)."""
        async with self._pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            try:
                yield PurchaseTx(conn)
            except BaseException:
                with contextlib.suppress(*CONNECTION_ERRORS):  # a lost connection has rolled back
                    await tx.rollback()
                raise
            try:
                await tx.commit()
            except Exception as exc:
                if isinstance(exc, asyncpg.PostgresError) and not isinstance(exc, CONNECTION_ERRORS):
                    raise  # the server refused the commit: nothing was recorded
                # Anything else (lost connection, a client in a broken state) leaves it unknown.
                raise CommitInDoubt(f"the purchase commit was not confirmed: {type(exc).__name__}") from exc

    async def get(self, purchase_id: str) -> Purchase | None:
        try:
            row = await self._pool.fetchrow(_PURCHASE_SELECT + " WHERE p.id = $1", purchase_id)
        except CONNECTION_ERRORS as exc:
            raise Unavailable(f"PostgreSQL is unavailable: {type(exc).__name__}") from exc
        return _purchase(row) if row else None

    async def listen_for_new(self, wake: Callable[[], None]) -> PurchaseListener | None:
        """Call ``wake`` on every new PENDING purchase (LISTEN on a connection of its own);
        None when it cannot listen (the worker polls anyway)."""
        try:
            conn = await self._pool.acquire()
        except Exception:
            log.warning("could not LISTEN for new purchases; relying on polling", exc_info=True)
            return None
        listener = PurchaseListener(self._pool, conn, wake)
        try:
            await conn.add_listener(PURCHASE_CHANNEL, listener.notified)
        except Exception:
            await self._pool.release(conn)
            log.warning("could not LISTEN for new purchases; relying on polling", exc_info=True)
            return None
        return listener

    async def claim(self, worker: str, limit: int, lease_seconds: float) -> list[Purchase]:
        """Take up to ``limit`` due PENDING purchases nobody holds a live lease on."""
        rows = await self._pool.fetch(
            """
            WITH due AS (
                SELECT id FROM purchases
                WHERE status = 'PENDING' AND next_attempt_at <= now()
                  AND (lease_expires_at IS NULL OR lease_expires_at < now())
                ORDER BY next_attempt_at
                LIMIT $2
                FOR UPDATE SKIP LOCKED
            )
            UPDATE purchases p
            SET lease_owner = $1, lease_expires_at = now() + make_interval(secs => $3),
                attempts = p.attempts + 1, updated_at = now()
            FROM due WHERE p.id = due.id
            RETURNING p.id
            """,
            worker,
            limit,
            lease_seconds,
        )
        if not rows:
            return []
        claimed = await self._pool.fetch(
            _PURCHASE_SELECT + " WHERE p.id = ANY($1::text[])", [r["id"] for r in rows]
        )
        return [_purchase(r) for r in claimed]

    async def extend_lease(self, purchase_id: str, worker: str, lease_seconds: float) -> bool:
        status = await self._pool.execute(
            """
            UPDATE purchases SET lease_expires_at = now() + make_interval(secs => $3)
            WHERE id = $1 AND lease_owner = $2 AND status = 'PENDING'
            """,
            purchase_id,
            worker,
            lease_seconds,
        )
        return bool(status.endswith(" 1"))

    def payment_record(self, purchase: Purchase) -> PostgresPaymentRecord:
        return PostgresPaymentRecord(self._pool, purchase.id, purchase.provider_payment_id)

    async def mark_charge_started(self, purchase_id: str) -> None:
        """Note, before the first provider call that may move money, that charging began."""
        await self._pool.execute(
            "UPDATE purchases SET charge_started_at = now() WHERE id = $1 AND charge_started_at IS NULL",
            purchase_id,
        )

    async def pending_summary(self) -> tuple[int, float]:
        """(PENDING purchases, age in seconds of the oldest one, 0 when none)."""
        row = await self._pool.fetchrow(
            "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age"
            " FROM purchases WHERE status = 'PENDING'"
        )
        assert row is not None
        return int(row["n"]), float(row["age"])

    async def record_payment(
        self, purchase: Purchase, provider: str, status: str, provider_payment_id: str | None
    ) -> None:
        await self._pool.execute(
            """
            INSERT INTO payments (id, purchase_id, provider, provider_payment_id, idempotency_key,
                                  amount_cents, currency, status)
            VALUES ('pay_' || $1, $1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (idempotency_key) DO UPDATE
              SET status = EXCLUDED.status,
                  provider_payment_id = coalesce(EXCLUDED.provider_payment_id, payments.provider_payment_id),
                  updated_at = now()
            """,
            purchase.id,
            provider,
            provider_payment_id,
            purchase.charge_key,
            purchase.amount_cents,
            purchase.currency,
            status,
        )

    async def retry_later(self, purchase_id: str, worker: str, delay_seconds: float) -> None:
        await self._pool.execute(
            """
            UPDATE purchases SET next_attempt_at = now() + make_interval(secs => $3),
                   lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
            WHERE id = $1 AND lease_owner = $2 AND status = 'PENDING'
            """,
            purchase_id,
            worker,
            delay_seconds,
        )

    async def confirm(self, purchase: Purchase, worker: str, booking_id: str) -> Booking | None:
        """Write the booking and mark purchase SUCCEEDED / hold PURCHASED, atomically.

        None when this worker no longer owns a PENDING purchase (someone else finished it).
        Raises SeatConflict when a seat is already in a live booking (I1's last line), and
        Unavailable when the connection failed: then whether it committed is unknown.
        """
        try:
            return await self._confirm(purchase, worker, booking_id)
        except CONNECTION_ERRORS as exc:
            raise Unavailable(f"PostgreSQL is unavailable: {type(exc).__name__}") from exc

    async def _confirm(self, purchase: Purchase, worker: str, booking_id: str) -> Booking | None:
        async with self._pool.acquire() as conn, conn.transaction():
            owned = await conn.fetchval(
                "SELECT 1 FROM purchases"
                " WHERE id = $1 AND status = 'PENDING' AND lease_owner = $2 FOR UPDATE",
                purchase.id,
                worker,
            )
            if owned is None:
                return None
            in_window = await conn.fetchval(
                "SELECT payment_deadline > now() FROM holds"
                " WHERE id = $1 AND status = 'PURCHASING' FOR UPDATE",
                purchase.hold_id,
            )
            if not in_window:
                raise PaymentWindowClosed(purchase.id)
            try:
                async with conn.transaction():  # savepoint: the conflict must not poison the rest
                    await conn.execute(
                        """
                        INSERT INTO bookings (id, purchase_id, event_id, user_id, amount_cents, currency)
                        VALUES ($1, $2, $3, $4, $5, $6)
                        """,
                        booking_id,
                        purchase.id,
                        purchase.event_id,
                        purchase.user_id,
                        purchase.amount_cents,
                        purchase.currency,
                    )
                    await conn.copy_records_to_table(
                        "booking_seats",
                        columns=["booking_id", "event_id", "seat_id"],
                        records=[(booking_id, purchase.event_id, s) for s in purchase.seat_ids],
                    )
            except asyncpg.UniqueViolationError as exc:
                raise SeatConflict(str(exc)) from exc
            await conn.execute(
                """
                UPDATE purchases SET status = 'SUCCEEDED', completed_at = now(), updated_at = now(),
                       lease_owner = NULL, lease_expires_at = NULL
                WHERE id = $1
                """,
                purchase.id,
            )
            await conn.execute(
                "UPDATE holds SET status = 'PURCHASED', updated_at = now() WHERE id = $1", purchase.hold_id
            )
            row = await conn.fetchrow(_BOOKING_SELECT + " WHERE b.id = $1", booking_id)
        assert row is not None
        return _booking(row)

    async def fail(self, purchase: Purchase, worker: str | None, reason: str) -> Hold | None:
        """Mark the purchase FAILED and hand the hold back: ACTIVE until its own expiry (or
        EXPIRED when that has passed, or when the payment window closed, since Redis let the
        seats go at the deadline; CANCELLED when its seats went to someone else).
        Returns the hold as it now stands, or None if this worker no longer owned it."""
        async with self._pool.acquire() as conn, conn.transaction():
            updated = await conn.execute(
                """
                UPDATE purchases SET status = 'FAILED', failure_reason = $3, completed_at = now(),
                       updated_at = now(), lease_owner = NULL, lease_expires_at = NULL
                WHERE id = $1 AND status = 'PENDING' AND ($2::text IS NULL OR lease_owner = $2)
                """,
                purchase.id,
                worker,
                reason,
            )
            if not updated.endswith(" 1"):
                return None
            row = await conn.fetchrow(
                """
                UPDATE holds SET status = CASE
                        WHEN $2 = 'seat_conflict' THEN 'CANCELLED'
                        WHEN $2 = 'hold_expired' THEN 'EXPIRED'
                        WHEN expires_at > now() THEN 'ACTIVE'
                        ELSE 'EXPIRED' END,
                    payment_deadline = NULL, updated_at = now()
                WHERE id = $1 AND status = 'PURCHASING'
                RETURNING id, event_id, user_id, status, expires_at, request_fingerprint,
                          array(SELECT seat_id FROM hold_seats WHERE hold_id = $1 ORDER BY seat_id)
                            AS seat_ids
                """,
                purchase.hold_id,
                reason,
            )
        if row is None:
            return None
        return Hold(
            id=row["id"],
            event_id=row["event_id"],
            user_id=row["user_id"],
            seat_ids=tuple(row["seat_ids"]),
            status=HoldStatus(row["status"]),
            expires_at=row["expires_at"],
            fingerprint=row["request_fingerprint"],
        )

    async def sold_seats(self, event_id: str, seat_ids: tuple[str, ...]) -> tuple[str, ...]:
        """Which of these seats are in a live booking."""
        rows = await self._pool.fetch(
            "SELECT seat_id FROM booking_seats WHERE event_id = $1 AND seat_id = ANY($2::text[]) AND live",
            event_id,
            list(seat_ids),
        )
        return tuple(sorted(r["seat_id"] for r in rows))

    async def hold_expires_at(self, hold_id: str) -> datetime | None:
        value: datetime | None = await self._pool.fetchval(
            "SELECT expires_at FROM holds WHERE id = $1", hold_id
        )
        return value

    async def booking(self, booking_id: str) -> Booking | None:
        row = await self._pool.fetchrow(_BOOKING_SELECT + " WHERE b.id = $1", booking_id)
        return _booking(row) if row else None

    async def bookings_of(self, user_id: str, limit: int = 100) -> list[Booking]:
        rows = await self._pool.fetch(
            _BOOKING_SELECT + " WHERE b.user_id = $1 ORDER BY b.purchased_at DESC, b.id LIMIT $2",
            user_id,
            limit,
        )
        return [_booking(r) for r in rows]
