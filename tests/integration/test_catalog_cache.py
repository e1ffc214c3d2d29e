"""CatalogCache: a thousand requests missing the cache at once load a layout once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg
import redis.asyncio as redis

from tests import factories
from ticketmaster.adapters.postgres.holds import PostgresHoldRepository
from ticketmaster.adapters.redis.catalog_cache import CatalogCache
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.domain.layout import EventInfo, VenueLayout


@dataclass
class CountingSource:
    repo: PostgresHoldRepository
    layouts: int = 0

    async def event_info(self, event_id: str) -> EventInfo | None:
        return await self.repo.event_info(event_id)

    async def venue_layout(self, venue_id: str) -> VenueLayout | None:
        self.layouts += 1
        return await self.repo.venue_layout(venue_id)


async def test_concurrent_misses_load_a_layout_once(
    pool: asyncpg.Pool, redis_client: redis.Redis, namespace: str
) -> None:
    venue = factories.venue(sections=3, rows=4, seats=25)
    await factories.load(pool, {"venues": [venue], "events": [factories.event(venue)]})
    source = CountingSource(PostgresHoldRepository(pool))
    cache = CatalogCache(redis_client, RedisKeys(namespace), source)

    layouts = await asyncio.gather(*(cache.venue_layout(venue["id"]) for _ in range(1000)))

    assert source.layouts == 1
    assert all(layout is layouts[0] for layout in layouts)
    assert len(layouts[0].seat_ids) == 3 * 4 * 25
    # A second process (a new cache) finds it in Redis, still without asking PostgreSQL.
    other = CatalogCache(redis_client, RedisKeys(namespace), source)
    assert (await other.venue_layout(venue["id"])).seat_ids == layouts[0].seat_ids
    assert source.layouts == 1
