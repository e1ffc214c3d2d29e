"""Use case: settle an expired hold — durably EXPIRED in PostgreSQL, seats released in the
Redis view, version bumped.

Correctness never waits for this (the gate treats a lapsed hold as free at once); it keeps
the seat map, the holds table and the version in step. Idempotent and safe against races:
only an ACTIVE hold past its expiry is settled; a PURCHASING or PURCHASED hold is left
alone, and the release only frees seats that still point at this very hold.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

from ticketmaster.adapters.postgres.holds import ExpiryCandidate
from ticketmaster.observability import EXPIRY_LAG, HOLDS_EXPIRED


class ExpiryRepository(Protocol):
    async def settle(self, hold_id: str) -> ExpiryCandidate | None: ...


class SeatReleaser(Protocol):
    async def release(
        self,
        event_id: str,
        hold_id: str,
        user_id: str,
        seat_ids: tuple[str, ...],
        *,
        forget_idempotency_key: str | None = None,
    ) -> int: ...


@dataclass
class ExpireHolds:
    repo: ExpiryRepository
    gate: SeatReleaser
    _busy: set[str] = field(default_factory=set)

    async def expire(self, hold_id: str, path: str) -> bool:
        """Settle one hold if it has expired (or was cancelled); True when seats were freed."""
        if hold_id in self._busy:
            # The listener and the sweepers race for the same hold: one settles it, the
            # others skip (a failed attempt leaves it due, so a sweeper retries it).
            return False
        self._busy.add(hold_id)
        try:
            return await self._expire(hold_id, path)
        finally:
            self._busy.discard(hold_id)

    async def _expire(self, hold_id: str, path: str) -> bool:
        hold = await self.repo.settle(hold_id)
        if hold is None or hold.status not in ("EXPIRED", "CANCELLED"):
            return False
        changed = await self.gate.release(hold.event_id, hold.hold_id, hold.user_id, hold.seat_ids)
        if changed:
            HOLDS_EXPIRED.labels(path).inc()
            if hold.status == "EXPIRED":
                EXPIRY_LAG.observe(max(0.0, time.time() - hold.expires_at_ms / 1000))
        return changed > 0
