"""Use case: settle an expired hold — seats released in the Redis view (version bumped),
then the row durably EXPIRED in PostgreSQL.

Correctness never waits for this (the gate treats a lapsed hold as free at once); it keeps
the seat map, the holds table and the version in step. On the fast paths (notification,
Redis sweeper) Redis goes first, guarded by its own clock and the hold key (expire.lua),
so the seat-map lag does not include a PostgreSQL commit; a hold whose purchase started
has a live key (pushed to the payment deadline) and is left alone, like every PURCHASING
or PURCHASED hold. The safety nets settle in PostgreSQL first. Idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol

from ticketmaster.domain.gate import DueHolds
from ticketmaster.domain.holds import BlockingHold, HoldStatus
from ticketmaster.observability import EXPIRY_LAG, HOLDS_EXPIRED
from ticketmaster.services.ports import SeatReleaser

log = logging.getLogger(__name__)

# Paths driven by Redis noticing the expiry; the others (postgres_sweeper, reconcile) are
# safety nets that take PostgreSQL's word for it.
FAST_PATHS = frozenset({"notification", "redis_sweeper"})
RECENTLY_DONE = 10_000
SETTLE_BATCH_S = 0.05  # released holds remembered, so a late notification for one is free


class ExpiryRepository(Protocol):
    async def peek(self, hold_id: str) -> BlockingHold | None: ...
    async def settle_many(self, hold_ids: list[str]) -> set[str]: ...
    async def settle(self, hold_id: str) -> BlockingHold | None: ...


class ExpiryGate(SeatReleaser, Protocol):
    async def expire(self, event_id: str, hold_id: str, user_id: str, seat_ids: tuple[str, ...]) -> int: ...
    async def lapsed_hold(self, event_id: str, hold_id: str) -> tuple[str, tuple[str, ...], int] | None: ...
    async def expire_due(self, event_id: str, limit: int) -> DueHolds: ...


@dataclass
class ExpireHolds:
    repo: ExpiryRepository
    gate: ExpiryGate
    _busy: set[str] = field(default_factory=set)
    _done: OrderedDict[str, None] = field(default_factory=OrderedDict)
    _to_settle: set[str] = field(default_factory=set)
    _released: OrderedDict[str, None] = field(default_factory=OrderedDict)  # by a fast path
    _settler: asyncio.Task[None] | None = None

    async def expire(self, hold_id: str, path: str, *, event_id: str | None = None) -> bool:
        """Settle one hold if it has expired (or was cancelled); True when seats were freed.
        ``event_id``, when the caller knows it, lets the fast paths skip PostgreSQL."""
        if hold_id in self._busy or hold_id in self._done:
            # The listener and the sweepers race for the same hold: one settles it, the
            # others skip (a failed attempt leaves it due, so a sweeper retries it), and a
            # path arriving after it was released costs no PostgreSQL round trip.
            return False
        self._busy.add(hold_id)
        try:
            if event_id is not None and path in FAST_PATHS:
                if hold_id in self._released:
                    return False  # the other fast path got there first
                fast = await self._expire_from_redis(event_id, hold_id, path)
                if fast is not None:
                    return fast
            return await self._expire(hold_id, path)
        finally:
            self._busy.discard(hold_id)

    async def expire_due(self, event_id: str, path: str, limit: int) -> tuple[int, int, int | None]:
        """Release every lapsed hold of the event Redis knows (one round trip), then settle
        the rows in batches; holds it has no record of go the PostgreSQL way. Returns (holds
        released, holds looked at, earliest expiry still ahead in ms)."""
        due = await self.gate.expire_due(event_id, limit)
        now = time.time()
        for hold_id, expires_at_ms, freed in due.released:
            if freed:
                EXPIRY_LAG.observe(max(0.0, now - expires_at_ms / 1000))
                HOLDS_EXPIRED.labels(path).inc()
            self._settle_later(hold_id)
        released = sum(1 for *_, freed in due.released if freed)
        for hold_id in due.unknown:
            try:
                released += await self.expire(hold_id, path)
            except Exception:
                log.warning("settling lapsed hold %s failed; a sweeper retries", hold_id, exc_info=True)
        return released, len(due.released) + len(due.unknown), due.next_due_ms

    def _settle_later(self, hold_id: str) -> None:
        """Released in Redis: remember it, and make the row EXPIRED with others in one commit;
        whatever this misses (PostgreSQL down, its clock not there yet) the PostgreSQL sweeper
        settles."""
        self._released[hold_id] = None
        if len(self._released) > RECENTLY_DONE:
            self._released.popitem(last=False)
        self._to_settle.add(hold_id)
        if self._settler is None or self._settler.done():
            self._settler = asyncio.create_task(self._settle_batches())

    async def _expire_from_redis(self, event_id: str, hold_id: str, path: str) -> bool | None:
        """Release from what Redis itself recorded about the hold (no PostgreSQL on the way
        to the seat map), then settle the row. None when Redis has no record of it."""
        lapsed = await self.gate.lapsed_hold(event_id, hold_id)
        if lapsed is None:
            return None
        user_id, seat_ids, expires_at_ms = lapsed
        changed = await self.gate.expire(event_id, hold_id, user_id, seat_ids)
        if changed < 0:
            return False  # still live in Redis (not yet expired, or a purchase started)
        if changed:
            EXPIRY_LAG.observe(max(0.0, time.time() - expires_at_ms / 1000))
            HOLDS_EXPIRED.labels(path).inc()
        self._settle_later(hold_id)  # durable afterwards, many rows per commit
        return changed > 0

    async def _settle_batches(self) -> None:
        while self._to_settle:
            await asyncio.sleep(SETTLE_BATCH_S)  # let a burst of expiries share one commit
            batch = list(self._to_settle)
            self._to_settle.clear()
            try:
                for hold_id in await self.repo.settle_many(batch):
                    self._remember(hold_id)
            except Exception:
                log.warning("settling %d expired holds failed; the sweeper will", len(batch), exc_info=True)

    def _remember(self, hold_id: str) -> None:
        self._done[hold_id] = None  # final states: nothing more to do, ever
        if len(self._done) > RECENTLY_DONE:
            self._done.popitem(last=False)

    async def _expire(self, hold_id: str, path: str) -> bool:
        hold = await self.repo.peek(hold_id)
        if hold is None or hold.status in (HoldStatus.PURCHASING, HoldStatus.PURCHASED):
            return False
        if hold.status is HoldStatus.CANCELLED:  # a cancel whose release did not happen (Redis was away)
            changed = await self.gate.release(hold.event_id, hold.id, hold.user_id, hold.seat_ids)
        elif path in FAST_PATHS:
            # Redis decides by its own clock and the hold key; PostgreSQL follows.
            changed = await self.gate.expire(hold.event_id, hold.id, hold.user_id, hold.seat_ids)
            if changed < 0:
                return False  # still live in Redis (not yet expired, or a purchase started)
            if changed:
                EXPIRY_LAG.observe(max(0.0, time.time() - hold.blocks_until_ms / 1000))
            if hold.status is HoldStatus.ACTIVE:
                settled = await self.repo.settle(hold_id)
                if settled is None or settled.status is not HoldStatus.EXPIRED:
                    return changed > 0  # PostgreSQL's clock not there yet: a sweeper retries
        else:
            # The safety nets trust PostgreSQL's expiry: settle there, then release whatever
            # still points at the hold (e.g. Redis kept it alive past a lost write).
            settled = await self.repo.settle(hold_id)
            if settled is None or settled.status is not HoldStatus.EXPIRED:
                return False
            changed = await self.gate.release(hold.event_id, hold.id, hold.user_id, hold.seat_ids)
            if changed:
                EXPIRY_LAG.observe(max(0.0, time.time() - hold.blocks_until_ms / 1000))
        self._remember(hold_id)
        if changed:
            HOLDS_EXPIRED.labels(path).inc()
        return changed > 0
