"""CatalogCache: a thousand requests missing the cache at once load a layout, or an event's
facts, once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg
import redis.asyncio as redis

from tests import factories
from ticketmaster.adapters.postgres.holds import PostgresHoldRepository
from ticketmaster.adapters.redis.catalog_cache import CatalogCache, announce_catalog_change
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.domain.layout import EventInfo, Geometry, Stage, VenueLayout


@dataclass
class CountingSource:
    repo: PostgresHoldRepository
    layouts: int = 0
    events: int = 0

    async def event_info(self, event_id: str) -> EventInfo | None:
        self.events += 1
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

    layouts = await asyncio.gather(*(cache.venue_layout(venue["id"], 0) for _ in range(1000)))

    assert source.layouts == 1
    assert all(layout is layouts[0] for layout in layouts)
    assert len(layouts[0].seat_ids) == 3 * 4 * 25
    # A second process (a new cache) finds it in Redis, still without asking PostgreSQL.
    other = CatalogCache(redis_client, RedisKeys(namespace), source)
    assert (await other.venue_layout(venue["id"], 0)).seat_ids == layouts[0].seat_ids
    assert source.layouts == 1


async def test_a_redrawn_venue_is_a_new_layout_revision_in_every_process(
    pool: asyncpg.Pool, redis_client: redis.Redis, namespace: str
) -> None:
    venue = factories.venue(sections=2, rows=1, seats=4)
    event = factories.event(venue)
    await factories.load(pool, {"venues": [venue], "events": [event]})
    source = CountingSource(PostgresHoldRepository(pool))
    cache = CatalogCache(redis_client, RedisKeys(namespace), source)
    info = await cache.event_info(event["id"])
    assert info is not None
    first = await cache.venue_layout(venue["id"], info.layout_revision)
    assert first.stage is None

    venue["stage"] = {"x": 0, "y": -10, "width": 8, "height": 4}
    venue["sections"][1]["geometry"] = {"x": 5, "y": 0, "rotation": 90}
    await factories.load(pool, {"venues": [venue], "events": [event]})
    fresh = await source.event_info(event["id"])
    assert fresh is not None
    assert fresh.layout_revision > info.layout_revision

    redrawn = await cache.venue_layout(venue["id"], fresh.layout_revision)
    assert redrawn.revision == fresh.layout_revision
    assert redrawn.stage == Stage(0.0, -10.0, 8.0, 4.0)
    assert [s.geometry for s in redrawn.sections] == [None, Geometry(5.0, 0.0, 90.0)]
    assert redrawn.seat_ids == first.seat_ids
    # Facts read before the re-import get the newer drawing, not a reload of the old one.
    assert await cache.venue_layout(venue["id"], info.layout_revision) is redrawn
    loads = source.layouts
    other = CatalogCache(redis_client, RedisKeys(namespace), source)
    assert await other.venue_layout(venue["id"], fresh.layout_revision) == redrawn
    assert source.layouts == loads  # the other process found this revision in Redis


async def test_concurrent_misses_read_an_event_once(
    pool: asyncpg.Pool, redis_client: redis.Redis, namespace: str
) -> None:
    venue = factories.venue(sections=1, rows=1, seats=5)
    event = factories.event(venue)
    await factories.load(pool, {"venues": [venue], "events": [event]})
    source = CountingSource(PostgresHoldRepository(pool))
    cache = CatalogCache(redis_client, RedisKeys(namespace), source)

    infos = await asyncio.gather(*(cache.event_info(event["id"]) for _ in range(1000)))

    assert source.events == 1
    assert all(info is not None and info.venue_id == venue["id"] for info in infos)
    # Another process finds the facts in Redis.
    other = CatalogCache(redis_client, RedisKeys(namespace), source)
    assert await other.event_info(event["id"]) == infos[0]
    assert source.events == 1


@dataclass
class ReadBeforeTheImport:
    """A source whose first read happens before a re-import commits and answers after it."""

    repo: PostgresHoldRepository
    read: asyncio.Event = field(default_factory=asyncio.Event)
    imported: asyncio.Event = field(default_factory=asyncio.Event)

    async def event_info(self, event_id: str) -> EventInfo | None:
        info = await self.repo.event_info(event_id)
        if not self.read.is_set():
            self.read.set()
            await self.imported.wait()
        return info

    async def venue_layout(self, venue_id: str) -> VenueLayout | None:
        return await self.repo.venue_layout(venue_id)


async def test_facts_read_before_an_announced_import_are_not_kept(
    pool: asyncpg.Pool, redis_client: redis.Redis, namespace: str
) -> None:
    venue = factories.venue(sections=1, rows=1, seats=5)
    before = factories.event(venue, on_sale_at="2027-01-01T00:00:00Z")
    await factories.load(pool, {"venues": [venue], "events": [before]})
    keys = RedisKeys(namespace)
    source = ReadBeforeTheImport(PostgresHoldRepository(pool))
    cache = CatalogCache(redis_client, keys, source, generation_check_s=0)
    in_flight = asyncio.create_task(cache.event_info(before["id"]))
    await source.read.wait()

    await factories.load(pool, {"venues": [], "events": [{**before, "onSaleAt": "2026-01-01T00:00:00Z"}]})
    await announce_catalog_change(redis_client, keys)
    fresh = await cache.event_info(before["id"])
    source.imported.set()
    stale = await in_flight

    assert stale is not None
    assert fresh is not None
    assert stale.on_sale_at.year == 2027  # read before the commit: it may answer its own request
    assert fresh.on_sale_at.year == 2026
    again = await cache.event_info(before["id"])
    assert again is not None
    assert again.on_sale_at.year == 2026  # ... but is kept neither in the process nor in Redis
    other = CatalogCache(redis_client, keys, PostgresHoldRepository(pool))
    shared = await other.event_info(before["id"])
    assert shared is not None
    assert shared.on_sale_at.year == 2026


async def test_unknown_events_come_from_a_short_negative_cache_that_stays_bounded(
    pool: asyncpg.Pool, redis_client: redis.Redis, namespace: str
) -> None:
    """Every unknown id a client sends is remembered briefly (no PostgreSQL query per
    request), and the memory of them is an LRU: a flood of distinct ids cannot grow it."""
    venue = factories.venue()
    event = factories.event(venue)
    await factories.load(pool, {"venues": [venue], "events": [event]})
    source = CountingSource(PostgresHoldRepository(pool))
    cache = CatalogCache(redis_client, RedisKeys(namespace), source, max_events=100)

    for _ in range(50):
        assert await cache.event_info("evt_nobody") is None
    assert source.events == 1
    # Another process finds the unknown id's short-lived marker in Redis: no query either.
    other = CatalogCache(redis_client, RedisKeys(namespace), source)
    assert await other.event_info("evt_nobody") is None
    assert source.events == 1

    assert await cache.event_info(event["id"]) is not None
    for n in range(300):
        assert await cache.event_info(f"evt_flood_{n}") is None
        assert await cache.event_info(event["id"]) is not None
    assert cache.cached_events() <= 100
    assert source.events == 1 + 1 + 300  # each unknown id once; the known one from Redis after
