"""EventStateLoader: rebuilds an event's gate state in Redis from PostgreSQL (load.lua).

Runs when the gate finds an event not loaded (first touch, or Redis lost its data): one
loader per process (a shared task) and one across processes (a lock key); the others wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Protocol

import redis.asyncio as redis

from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.domain.holds import BlockingHold

IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000
LOAD_LOCK_MS = 15_000
LOAD_WAIT_S = 15.0
# Arguments per script call: load.lua copies them into a Lua table with unpack(), which
# Redis's Lua refuses beyond ~8,000 values.
LOAD_CHUNK = 5_000


class LiveStateSource(Protocol):
    async def live_state(self, event_id: str) -> tuple[list[str], list[BlockingHold]]: ...
    async def has_hold_history(self, event_id: str) -> bool: ...


def _chunks(
    sold: list[str], holds: list[BlockingHold], limit: int
) -> Iterator[tuple[list[str], list[BlockingHold]]]:
    """Sold seats and holds in groups of at most ``limit`` script arguments (at least one
    group, possibly empty)."""
    seats: list[str] = []
    group: list[BlockingHold] = []
    size = 0
    for seat in sold:
        if size + 1 > limit:
            yield seats, group
            seats, group, size = [], [], 0
        seats.append(seat)
        size += 1
    for hold in holds:
        cost = 5 + len(hold.seat_ids)
        if size + cost > limit and size:
            yield seats, group
            seats, group, size = [], [], 0
        group.append(hold)
        size += cost
    yield seats, group


class EventStateLoader:
    def __init__(
        self,
        client: redis.Redis,
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
        self._with_holds = with_holds
        self._loading: dict[str, asyncio.Task[None]] = {}

    async def ensure_loaded(self, event_id: str) -> None:
        """Rebuild the event's state unless present."""
        task = self._loading.get(event_id)
        if task is None:
            task = asyncio.create_task(self._load_once(event_id))
            self._loading[event_id] = task
            task.add_done_callback(lambda _t: self._loading.pop(event_id, None))
        await asyncio.shield(task)

    async def _load_once(self, event_id: str) -> None:
        k = self._keys
        deadline = time.monotonic() + LOAD_WAIT_S
        while not await self._redis.exists(k.loaded(event_id)):
            if await self._redis.set(k.loading_lock(event_id), "1", nx=True, px=LOAD_LOCK_MS):
                try:
                    # Another process may have finished loading just before we took the lock.
                    if not await self._redis.exists(k.loaded(event_id)):
                        await self._install(event_id)
                finally:
                    await self._redis.delete(k.loading_lock(event_id))
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"event {event_id} is being loaded by another process for too long")
            # Another process holds the load lock: it finishes within the lock's lifetime.
            await asyncio.sleep(0.02)

    async def _install(self, event_id: str) -> None:
        k = self._keys
        sold, holds = await self._source.live_state(event_id)
        # Holds made before this rebuild may have idempotency records Redis lost with its state.
        gap_ms = IDEMPOTENCY_TTL_MS if await self._source.has_hold_history(event_id) else 0
        common = [k.seats(event_id), k.version(event_id)]
        rest = [k.expiries(event_id), k.seat_changes(event_id), k.hold_seats(event_id), k.holders(event_id)]
        # Every call but the last runs against a staging marker, so partial data never reads
        # as loaded; each pass also leaves the change log reset (nothing replays across it).
        chunks = list(_chunks(sold, holds, LOAD_CHUNK))
        staging = k.loaded_staging(event_id)
        for number, (seats, group) in enumerate(chunks, start=1):
            marker = k.loaded(event_id) if number == len(chunks) else staging
            args: list[str | int] = [gap_ms, len(seats), *seats]
            for h in group:
                args += [h.id, h.user_id, h.blocks_until_ms, h.status, len(h.seat_ids), *h.seat_ids]
            await self._redis.delete(staging)
            await self._load(
                keys=[*common, marker, *rest, *(k.hold(event_id, h.id) for h in group)], args=args
            )
        await self._redis.delete(staging)
        if holds:
            await self._with_holds(event_id)
