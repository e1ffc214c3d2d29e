"""Holds whose commit is in doubt: the row was sent to PostgreSQL, the commit never confirmed.

Undoing such a hold in Redis could leave a durable hold that no seat map shows (I5) and
whose seats a second buyer could then hold; keeping it for good could block seats for a
hold nobody has. So the Redis hold stays until PostgreSQL answers, and then:

    in doubt --its row exists--> kept: a real hold (a retry with the same key is given it)
    in doubt --no row: a void row is written under its id--> released in Redis
    in doubt --its expiry passes first--> dropped here: Redis's own expiry frees it

The void row (domain.holds.Hold.is_void) settles the question in PostgreSQL itself, so a
replay in another process adopting the same hold id either wins (the row exists) or finds
the void row; it can never commit the hold after it was released here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from ticketmaster.domain.holds import Hold
from ticketmaster.services.ports import SeatReleaser

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.2
RETRY_MAX_S = 2.0
BATCH = 500
MAX_PENDING = 100_000
"""Beyond this many (a long outage under load) a hold is left to its Redis expiry."""


class HoldVoider(Protocol):
    async def void_unless_present(self, holds: Sequence[Hold]) -> set[str]:
        """Write a void row under each hold's id unless its row exists; the ids voided."""
        ...


@dataclass
class InDoubtHolds:
    """Resolves in-doubt holds in the background, in batches, once PostgreSQL answers."""

    repo: HoldVoider
    gate: SeatReleaser
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _pending: dict[str, tuple[Hold, str]] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    def add(self, hold: Hold, idempotency_key: str) -> None:
        if len(self._pending) >= MAX_PENDING:
            log.warning("too many holds in doubt; hold %s is left to its Redis expiry", hold.id)
            return
        self._pending[hold.id] = (hold, idempotency_key)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._resolve(), name="hold-doubts")

    def __len__(self) -> int:
        return len(self._pending)

    async def resolved(self) -> None:
        """Return once every hold handed in so far is resolved or dropped."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _resolve(self) -> None:
        delay = RETRY_FIRST_S
        while self._pending:
            now = self.clock()
            for hold_id in [h for h, (hold, _) in self._pending.items() if hold.expires_at <= now]:
                del self._pending[hold_id]
            batch = list(self._pending.values())[:BATCH]
            if not batch:
                return
            try:
                voided = await self.repo.void_unless_present([hold for hold, _ in batch])
            except Exception as exc:  # PostgreSQL still away: ask again, a little later each time
                log.info("%d holds still in doubt (%s); asking again", len(self._pending), type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            delay = RETRY_FIRST_S
            for hold, key in batch:
                self._pending.pop(hold.id, None)
                if hold.id in voided:
                    await self._release(hold, key)

    async def _release(self, hold: Hold, key: str) -> None:
        try:
            await self.gate.release(
                hold.event_id, hold.id, hold.user_id, hold.seat_ids, forget_idempotency_key=key
            )
        except Exception:  # Redis away: the hold's own expiry frees the seats
            log.warning("releasing void hold %s failed; its expiry will", hold.id, exc_info=True)
