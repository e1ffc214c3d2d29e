"""Gate a: ``RedisSeatGate`` exactly as the API uses it (hold.lua / release.lua)."""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from bench.gates.gate import Attempt, Held, UnexpectedAnswer, new_id
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.adapters.redis.seat_gate import RedisSeatGate
from ticketmaster.domain.gate import Outcome
from ticketmaster.domain.holds import BlockingHold
from ticketmaster.domain.layout import EventInfo, VenueLayout

HOLD_TTL_MS = 600_000  # the production default hold time


class FreshEvents:
    """LiveStateSource for the gate's first load: a bench event has nothing sold or held."""

    async def live_state(self, event_id: str) -> tuple[list[tuple[str, str]], list[BlockingHold]]:
        return [], []

    async def has_hold_history(self, event_id: str) -> bool:
        return False

    async def acknowledged_generation(self, event_id: str) -> int:
        return 0  # nothing acknowledged survives a bench run: no floor to keep

    async def record_generation(self, event_id: str, generation: int) -> None:
        return None

    async def event_info(self, event_id: str) -> EventInfo | None:
        return None  # no venue in PostgreSQL: the gate keeps no availability index for it

    async def venue_layout(self, venue_id: str) -> VenueLayout | None:
        return None


class RedisGate:
    name = "redis"

    def __init__(self, client: aioredis.Redis, keys: RedisKeys) -> None:
        self._redis = client
        self._keys = keys
        self._gate = RedisSeatGate(client, keys, FreshEvents(), max_seats_per_user=1_000_000_000)
        self._event = ""

    async def reset(self, event_id: str, seat_ids: Sequence[str]) -> None:
        if self._event:
            await delete_keys(self._redis, f"{self._keys.event_tag(self._event)}:*")
        self._event = event_id
        await self._gate.ensure_loaded(event_id)  # outside the measurement

    async def try_hold(self, user: str, seat_ids: tuple[str, ...]) -> Attempt:
        hold_id = new_id("hold")
        reply = await self._gate.hold(
            self._event, hold_id, user, seat_ids, HOLD_TTL_MS, "bench", new_id("idem")
        )
        if reply.outcome == Outcome.OK:
            return Attempt(Held(hold_id, user, seat_ids))
        if reply.outcome == Outcome.UNAVAILABLE:
            return Attempt(None)
        raise UnexpectedAnswer(f"hold.lua answered {reply.outcome}")

    async def release(self, hold: Held) -> None:
        await self._gate.release(self._event, hold.hold_id, hold.user, hold.seat_ids)

    async def server_cpu_seconds(self) -> float | None:
        info = await self._redis.info("cpu")
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


async def delete_keys(client: aioredis.Redis, pattern: str) -> int:
    deleted = 0
    batch: list[str] = []
    async for key in client.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += await client.unlink(*batch)
            batch.clear()
    if batch:
        deleted += await client.unlink(*batch)
    return deleted
