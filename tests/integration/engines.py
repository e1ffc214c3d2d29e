"""The real hold adapters and use case wired as ``bootstrap.build`` wires them, on an event
loop of their own (hypothesis state machines drive them synchronously), and a clock
aligned to Redis TIME, which decides expiry in the gate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import asyncpg

from ticketmaster.adapters.postgres.holds import HoldWriter, PostgresHoldRepository
from ticketmaster.adapters.postgres.pool import create_pool
from ticketmaster.adapters.redis.catalog_cache import CatalogCache
from ticketmaster.adapters.redis.client import RedisClient, create_client
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.adapters.redis.seat_gate import RedisSeatGate
from ticketmaster.services.holds import HoldService

T = TypeVar("T")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


class RedisClock:
    """The service's clock, aligned once to Redis TIME (which decides expiry in the gate)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    async def align(self, client: RedisClient) -> None:
        """Offset from the quickest of a few TIME round trips (error: half that round trip)."""
        samples = []
        for _ in range(20):
            sent = datetime.now(UTC)
            seconds, micros = await client.time()
            received = datetime.now(UTC)
            redis_now = EPOCH + timedelta(seconds=int(seconds), microseconds=int(micros))
            samples.append((received - sent, redis_now - (sent + (received - sent) / 2)))
        self.offset = min(samples)[1]

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def now_ms(self) -> int:
        return ms(self())


@dataclass
class Engines:
    """Real adapters wired as bootstrap.build wires them, on a loop of the machine's own."""

    loop: asyncio.AbstractEventLoop
    pool: asyncpg.Pool
    redis: RedisClient
    keys: RedisKeys
    repo: PostgresHoldRepository
    writer: HoldWriter
    gate: RedisSeatGate
    service: HoldService
    clock: RedisClock

    def run(self, coro: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coro)

    def lose_event(self, event_id: str, *, rebuild_now: bool) -> None:
        """Every Redis key of the event vanishes (as in a restart without persistence); with
        ``rebuild_now`` the gate rebuilds it from PostgreSQL at once, else on next touch."""

        async def wipe() -> None:
            pattern = f"{self.keys.event_tag(event_id)}:*"
            doomed = [k async for k in self.redis.scan_iter(match=pattern, count=1000)]
            if doomed:
                await self.redis.delete(*doomed)
            if rebuild_now:
                await self.gate.ensure_loaded(event_id)

        self.run(wipe())

    def wait_until_past(self, target_ms: int) -> None:
        """Really wait, until Redis TIME is past ``target_ms`` (it decides expiry)."""
        deadline = time.monotonic() + (target_ms - self.clock.now_ms()) / 1000 + 2.0
        while True:
            seconds, micros = self.run(self.redis.time())
            if int(seconds) * 1000 + int(micros) // 1000 > target_ms:
                return
            assert time.monotonic() < deadline, "Redis TIME does not advance"
            self.run(asyncio.sleep(0.005))


def open_engines(
    database_url: str, redis_url: str, namespace: str, *, seats_per_user: int, cluster: bool = False
) -> Engines:
    """Engines on a new event loop; the gate limits each buyer to ``seats_per_user``;
    ``cluster``: ``redis_url`` is a seed node of a Redis Cluster."""
    loop = asyncio.new_event_loop()

    async def build() -> Engines:
        pool = await create_pool(database_url, max_size=4)
        client = create_client(redis_url, cluster=cluster)
        keys = RedisKeys(namespace)
        repo = PostgresHoldRepository(pool)
        writer = HoldWriter(repo)
        writer.start()
        catalog = CatalogCache(client, keys, repo)
        gate = RedisSeatGate(client, keys, repo, max_seats_per_user=seats_per_user)
        clock = RedisClock()
        await clock.align(client)
        service = HoldService(catalog, gate, repo, writer, 1, clock=clock)
        return Engines(loop, pool, client, keys, repo, writer, gate, service, clock)

    return loop.run_until_complete(build())


def close_engines(engines: Engines) -> None:
    async def close() -> None:
        await engines.writer.stop()
        await engines.redis.aclose()
        await engines.pool.close()

    engines.run(close())
    engines.loop.run_until_complete(engines.loop.shutdown_asyncgens())
    engines.loop.close()
