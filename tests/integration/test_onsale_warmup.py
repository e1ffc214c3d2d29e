"""The on-sale warm-up (SPEC §3) against real PostgreSQL and Redis: an event whose sale opens
within the window, or is open, is loaded into Redis and the caches before any buyer asks,
stays loaded, and one that opens later is left alone."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import redis.asyncio as redis

from tests import factories
from ticketmaster.adapters.postgres.events import PostgresEventCatalog
from ticketmaster.adapters.postgres.holds import PostgresHoldRepository
from ticketmaster.adapters.redis.catalog_cache import CatalogCache
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.adapters.redis.seat_gate import RedisSeatGate
from ticketmaster.domain.holds import MAX_SEATS_PER_USER_PER_EVENT, BlockingHold
from ticketmaster.domain.layout import EventInfo, VenueLayout
from ticketmaster.services.warmup import OnSaleWarmup

WINDOW_S = 60.0


@dataclass
class CountingRepo:
    """The real repository, counting the reads a cold event costs PostgreSQL."""

    repo: PostgresHoldRepository
    event_reads: int = 0
    layout_reads: int = 0
    state_reads: Counter[str] = field(default_factory=Counter)

    async def event_info(self, event_id: str) -> EventInfo | None:
        self.event_reads += 1
        return await self.repo.event_info(event_id)

    async def venue_layout(self, venue_id: str) -> VenueLayout | None:
        self.layout_reads += 1
        return await self.repo.venue_layout(venue_id)

    async def live_state(self, event_id: str) -> tuple[list[tuple[str, str]], list[BlockingHold]]:
        self.state_reads[event_id] += 1
        return await self.repo.live_state(event_id)

    async def has_hold_history(self, event_id: str) -> bool:
        return await self.repo.has_hold_history(event_id)

    async def acknowledged_generation(self, event_id: str) -> int:
        return await self.repo.acknowledged_generation(event_id)

    async def record_generation(self, event_id: str, generation: int) -> None:
        await self.repo.record_generation(event_id, generation)


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


async def _events(pool: asyncpg.Pool) -> tuple[dict[str, Any], dict[str, str]]:
    """A venue with three events: opening in 30 s, opening in 2 h, on sale since a day."""
    now = datetime.now(UTC)
    venue = factories.venue(sections=3, rows=4, seats=25)
    events = {
        "soon": factories.event(venue, on_sale_at=_iso(now + timedelta(seconds=30))),
        "later": factories.event(venue, on_sale_at=_iso(now + timedelta(hours=2))),
        "open": factories.event(venue, on_sale_at=_iso(now - timedelta(days=1))),
    }
    await factories.load(pool, {"venues": [venue], "events": list(events.values())})
    return venue, {name: e["id"] for name, e in events.items()}


@dataclass
class Rig:
    venue: dict[str, Any]
    ids: dict[str, str]
    keys: RedisKeys
    repo: CountingRepo
    warmup: OnSaleWarmup
    catalog: CatalogCache
    gate: RedisSeatGate


async def _rig(pool: asyncpg.Pool, client: redis.Redis, namespace: str, *, load_seats: bool = True) -> Rig:
    """The three events, and a warm-up over real adapters that count their PostgreSQL reads."""
    venue, ids = await _events(pool)
    keys = RedisKeys(namespace)
    repo = CountingRepo(PostgresHoldRepository(pool))
    catalog = CatalogCache(client, keys, repo)
    gate = RedisSeatGate(client, keys, repo, max_seats_per_user=MAX_SEATS_PER_USER_PER_EVENT)
    warmup = OnSaleWarmup(PostgresEventCatalog(pool), catalog, gate, WINDOW_S, load_seats=load_seats)
    return Rig(venue, ids, keys, repo, warmup, catalog, gate)


async def test_events_opening_within_the_window_or_open_are_loaded_and_kept_loaded(
    pool: asyncpg.Pool, redis_client: redis.Redis, namespace: str
) -> None:
    rig = await _rig(pool, redis_client, namespace)
    venue, ids, keys, repo, warmup, catalog = rig.venue, rig.ids, rig.keys, rig.repo, rig.warmup, rig.catalog

    loaded = await warmup.tick()

    assert {ids["soon"], ids["open"]} <= set(loaded)
    assert ids["later"] not in loaded
    assert await redis_client.exists(keys.loaded(ids["soon"]), keys.loaded(ids["open"])) == 2
    assert not await redis_client.exists(keys.loaded(ids["later"]))
    # The opening event's facts and its venue's layout are cached, in Redis and in memory.
    generation = await redis_client.get(keys.catalog_generation()) or "0"
    assert await redis_client.ttl(keys.event_meta(ids["soon"], generation)) > 0
    reads = (repo.event_reads, repo.layout_reads)
    info = await catalog.event_info(ids["soon"])
    assert info is not None
    assert await redis_client.exists(keys.venue_layout(venue["id"], info.layout_revision))
    assert len((await catalog.venue_layout(venue["id"], info.layout_revision)).seat_ids) == 3 * 4 * 25
    assert (repo.event_reads, repo.layout_reads) == reads, "a buyer's first hold would read PostgreSQL"

    # Loaded stays loaded: the next round loads neither again...
    assert not {ids["soon"], ids["open"]} & set(await warmup.tick())
    # ...until Redis loses one (a restart without persistence): then it is loaded again.
    tag = keys.event_tag(ids["open"])
    await redis_client.delete(*[k async for k in redis_client.scan_iter(match=f"{tag}:*", count=1000)])
    assert ids["open"] in await warmup.tick()
    assert await redis_client.exists(keys.loaded(ids["open"]))


async def test_a_round_racing_a_burst_of_first_requests_loads_the_event_once(
    pool: asyncpg.Pool, redis_client: redis.Redis, namespace: str
) -> None:
    rig = await _rig(pool, redis_client, namespace)
    ids, keys, repo, warmup, catalog, gate = rig.ids, rig.keys, rig.repo, rig.warmup, rig.catalog, rig.gate

    await asyncio.gather(
        warmup.tick(),
        *(gate.ensure_loaded(ids["soon"]) for _ in range(50)),
        *(catalog.event_info(ids["soon"]) for _ in range(50)),
    )

    assert await redis_client.exists(keys.loaded(ids["soon"]))
    # The event's seat state was read from PostgreSQL once, however many asked at once.
    assert repo.state_reads[ids["soon"]] == 1
    assert await gate.version(ids["soon"]) is not None


async def test_api_processes_warm_their_caches_but_leave_seat_state_to_the_worker(
    pool: asyncpg.Pool, redis_client: redis.Redis, namespace: str
) -> None:
    rig = await _rig(pool, redis_client, namespace, load_seats=False)
    venue, ids, keys, repo, warmup, catalog = rig.venue, rig.ids, rig.keys, rig.repo, rig.warmup, rig.catalog

    assert await warmup.tick() == []

    assert not await redis_client.exists(keys.loaded(ids["soon"]))
    reads = repo.layout_reads
    assert len((await catalog.venue_layout(venue["id"], 0)).seat_ids) == 3 * 4 * 25
    assert repo.layout_reads == reads == 1
