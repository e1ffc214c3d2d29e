"""EventStateLoader: rebuilds an event's gate state in Redis from PostgreSQL (load.lua).

Runs when the gate finds an event not loaded (first touch, or Redis lost its data) or
stale (its generation below the caller's floor: generations.py): one loader per process (a
shared task) and one across processes (a lock key); the others wait. A stale event is
rebuilt by merging PostgreSQL's live state over what Redis has, never by wiping it first:
holds granted since the loss, whose commits may be in flight, keep their seats.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ticketmaster.adapters.redis.client import RedisClient
from ticketmaster.adapters.redis.generations import GenerationSource
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.adapters.redis.lua import load_script
from ticketmaster.domain.holds import BlockingHold
from ticketmaster.domain.layout import EventInfo, RankedRow, VenueLayout
from ticketmaster.observability import SEAT_STATE_LOADS

IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000
LOAD_LOCK_MS = 15_000
# A waiter outlasts the lock, so a loader that died holding it (a killed process, a lost
# connection, a failover) delays the load by the lock's lifetime but never fails it.
LOAD_WAIT_S = LOAD_LOCK_MS / 1000 + 5.0
# Arguments per script call: load.lua copies them into a Lua table with unpack(), which
# Redis's Lua refuses beyond ~8,000 values.
LOAD_CHUNK = 5_000


class LiveStateSource(GenerationSource, Protocol):
    async def live_state(self, event_id: str) -> tuple[list[tuple[str, str]], list[BlockingHold]]:
        """(seat, buyer) of each sold seat, and the holds still blocking seats (one snapshot)."""
        ...

    async def has_hold_history(self, event_id: str) -> bool: ...
    async def event_info(self, event_id: str) -> EventInfo | None: ...
    async def venue_layout(self, venue_id: str) -> VenueLayout | None: ...


@dataclass
class _Chunk:
    """What one load.lua call installs."""

    rows: list[RankedRow] = field(default_factory=list)
    sold: list[str] = field(default_factory=list)
    bought: list[tuple[str, int]] = field(default_factory=list)
    holds: list[BlockingHold] = field(default_factory=list)
    size: int = 0

    def args(self, gap_ms: int, floor: int) -> list[str | int]:
        args: list[str | int] = [gap_ms, floor, len(self.rows)]
        for row in self.rows:
            args += [row.index, row.seat_prefix, row.seats]
        args += [len(self.sold), *self.sold, len(self.bought)]
        for user, seats in self.bought:
            args += [user, seats]
        for h in self.holds:
            args += [h.id, h.user_id, h.blocks_until_ms, h.status, len(h.seat_ids), *h.seat_ids]
        return args


def _chunks(
    rows: Sequence[RankedRow],
    sold: list[tuple[str, str]],
    holds: list[BlockingHold],
    limit: int,
) -> list[_Chunk]:
    """The index's rows, then the sold seats and each buyer's count of them, then the holds,
    in groups of at most ``limit`` script arguments (at least one group, possibly empty)."""
    chunks = [_Chunk()]

    def room(cost: int) -> _Chunk:
        if chunks[-1].size and chunks[-1].size + cost > limit:
            chunks.append(_Chunk())
        chunks[-1].size += cost
        return chunks[-1]

    for row in rows:
        room(3).rows.append(row)
    for seat, _ in sold:
        room(1).sold.append(seat)
    for user, seats in sorted(Counter(user for _, user in sold).items()):
        room(2).bought.append((user, seats))
    for hold in holds:
        room(5 + len(hold.seat_ids)).holds.append(hold)
    return chunks


async def venue_rows(source: LiveStateSource, event_id: str) -> tuple[RankedRow, ...]:
    """The rows of the event's venue in rank order (none for an unknown event)."""
    info = await source.event_info(event_id)
    layout = None if info is None else await source.venue_layout(info.venue_id)
    return () if layout is None else layout.ranked_rows


class EventStateLoader:
    def __init__(
        self,
        client: RedisClient,
        keys: RedisKeys,
        source: LiveStateSource,
        load_source: str,
        *,
        with_holds: Callable[[str], Awaitable[None]],
    ) -> None:
        """``with_holds(event_id)`` runs once after installing an event that has live holds
        (the gate puts it on the sweeper's list)."""
        self._redis = client
        self._keys = keys
        self._source = source
        self._load = client.register_script(load_source)
        self._lock = client.register_script(load_script("load_lock.lua"))
        # This process's lock value: a lock found holding it was left by one of our own
        # loads that lost its connection (the process runs one load per event at a time).
        self._token = uuid.uuid4().hex
        self._with_holds = with_holds
        self._loading: dict[str, tuple[asyncio.Task[None], int]] = {}

    async def ensure_loaded(self, event_id: str, floor: int = 0) -> None:
        """Rebuild the event's state unless present with a generation of at least ``floor``."""
        while True:
            joined = self._loading.get(event_id)
            if joined is None or joined[0].done():
                load = (asyncio.create_task(self._load_once(event_id, floor)), floor)
                self._loading[event_id] = load
                load[0].add_done_callback(functools.partial(self._forget, event_id, load))
                joined = load
            task, for_floor = joined
            await asyncio.shield(task)
            if for_floor >= floor:
                return
            # The load joined was for a lower floor: go again (at once done if it is met).

    def _forget(self, event_id: str, load: tuple[asyncio.Task[None], int], _done: object) -> None:
        if self._loading.get(event_id) is load:
            del self._loading[event_id]

    async def _current(self, event_id: str, floor: int) -> bool:
        """Whether the event is loaded and its generation is at least ``floor``."""
        return await self._state(event_id, floor) == "current"

    async def _state(self, event_id: str, floor: int) -> Literal["current", "absent", "stale"]:
        """The event's state in Redis: loaded with a generation of at least ``floor``, not
        loaded, or loaded below ``floor``."""
        k = self._keys
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.exists(k.loaded(event_id))
            pipe.get(k.generation(event_id))
            loaded, generation = await pipe.execute()
        if not loaded:
            return "absent"
        return "current" if int(generation or 0) >= floor else "stale"

    async def _load_once(self, event_id: str, floor: int) -> None:
        k = self._keys
        deadline = time.monotonic() + LOAD_WAIT_S
        lock = k.loading_lock(event_id)
        while not await self._current(event_id, floor):
            if await self._take(lock):
                try:
                    # Another process may have finished loading just before we took the lock.
                    state = await self._state(event_id, floor)
                    if state != "current":
                        # Stale: unmark it first, so every gate call waits for the rebuild.
                        await self._redis.delete(k.loaded(event_id))
                        await self._install(event_id, floor)
                        SEAT_STATE_LOADS.labels(reason=state).inc()
                finally:
                    await self._lock(keys=[lock], args=[self._token, 0])
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"event {event_id} is being loaded by another process for too long")
            # Another process holds the load lock: it finishes within the lock's lifetime.
            await asyncio.sleep(0.02)

    async def _take(self, lock: str) -> bool:
        """Whether this process now holds ``lock``: it was free, or an earlier load of ours
        left it (its reply or its unlock lost)."""
        return bool(await self._lock(keys=[lock], args=[self._token, LOAD_LOCK_MS]))

    async def _install(self, event_id: str, floor: int) -> None:
        k = self._keys
        rows = await venue_rows(self._source, event_id)
        sold, holds = await self._source.live_state(event_id)
        # Holds made before this rebuild may have idempotency records Redis lost with its state.
        gap_ms = IDEMPOTENCY_TTL_MS if await self._source.has_hold_history(event_id) else 0
        common = [k.seats(event_id), k.version(event_id)]
        rest = [
            k.expiries(event_id),
            k.seat_changes(event_id),
            k.hold_seats(event_id),
            k.holders(event_id),
            k.seat_rows(event_id),
            k.row_fits(event_id),
            k.row_due(event_id),
            k.bought(event_id),
            k.generation(event_id),
        ]
        # Every call but the last runs against a staging marker, so partial data never reads
        # as loaded; each pass also leaves the change log reset (nothing replays across it).
        chunks = _chunks(rows, sold, holds, LOAD_CHUNK)
        staging = k.loaded_staging(event_id)
        for number, chunk in enumerate(chunks, start=1):
            marker = k.loaded(event_id) if number == len(chunks) else staging
            hold_keys = [k.hold(event_id, h.id) for h in chunk.holds]
            await self._redis.delete(staging)
            await self._load(keys=[*common, marker, *rest, *hold_keys], args=chunk.args(gap_ms, floor))
        await self._redis.delete(staging)
        if holds:
            await self._with_holds(event_id)
