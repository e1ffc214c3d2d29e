"""The venue drawing from import file to seat map, on the real database and Redis: stored
with the venue, changed by a re-import (the seats never are), idempotent, and served
with the layout."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
import redis.asyncio as redis

from tests import factories
from tests.integration.test_catalog_import import run_import
from tests.snapshots import dump_tables
from ticketmaster.adapters.postgres.holds import PostgresHoldRepository
from ticketmaster.adapters.redis.catalog_cache import CatalogCache, announce_catalog_change
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.adapters.redis.seat_gate import RedisSeatGate
from ticketmaster.domain.catalog import ImportReport
from ticketmaster.services.seat_map import SeatMapRenderer

Doc = dict[str, Any]
STAGE = {"x": -5, "y": -30, "width": 30, "height": 10.5}


def drawn_venue() -> Doc:
    """Two sections of 2 x 10 seats, the first placed and turned, the second not."""
    v = factories.venue(sections=2, rows=2, seats=10)
    v["stage"] = dict(STAGE)
    v["sections"][0]["geometry"] = {"x": 0, "y": 0, "rotation": -15}
    return v


async def drawing_rows(pool: asyncpg.Pool, venue_id: str) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    venue = await pool.fetchrow(
        "SELECT stage_x, stage_y, stage_width, stage_height, layout_revision FROM venues WHERE id = $1",
        venue_id,
    )
    sections = await pool.fetch(
        "SELECT id, x, y, rotation FROM sections WHERE venue_id = $1 ORDER BY position", venue_id
    )
    assert venue is not None
    return tuple(venue), [tuple(s) for s in sections]


async def test_the_drawing_is_stored_with_the_venue(pool: asyncpg.Pool) -> None:
    v = drawn_venue()

    await run_import(pool, {"venues": [v], "events": [factories.event(v)]})

    venue, sections = await drawing_rows(pool, v["id"])
    assert venue == (-5.0, -30.0, 30.0, 10.5, 0)
    assert sections == [("sec0", 0.0, 0.0, -15.0), ("sec1", None, None, None)]


async def test_a_reimport_redraws_the_venue_but_never_touches_its_seats(pool: asyncpg.Pool) -> None:
    v = drawn_venue()
    data = {"venues": [v], "events": [factories.event(v)]}
    await run_import(pool, data)
    seats_before = (await dump_tables(pool))["seats"]

    v["stage"]["width"] = 40
    v["sections"][0]["geometry"] = {"x": 2.5, "y": 1, "rotation": 15}
    v["sections"][1]["geometry"] = {"x": 30, "y": 0}
    report = await run_import(pool, data)

    assert report.venues_written == 1
    assert report.seats_written == 0
    venue, sections = await drawing_rows(pool, v["id"])
    assert venue[:4] == (-5.0, -30.0, 40.0, 10.5)
    revision = venue[4]
    assert revision > 0
    assert sections == [("sec0", 2.5, 1.0, 15.0), ("sec1", 30.0, 0.0, 0.0)]
    assert (await dump_tables(pool))["seats"] == seats_before

    # Leaving the drawing out of the file takes it away (the file is the whole truth).
    del v["stage"]
    for section in v["sections"]:
        del section["geometry"]
    await run_import(pool, data)
    venue, sections = await drawing_rows(pool, v["id"])
    assert venue[:4] == (None, None, None, None)
    assert venue[4] > revision
    assert sections == [("sec0", None, None, None), ("sec1", None, None, None)]


async def test_importing_the_same_drawing_twice_writes_nothing(pool: asyncpg.Pool) -> None:
    v = drawn_venue()
    data = {"venues": [v], "events": [factories.event(v)]}
    await run_import(pool, data)
    before = await dump_tables(pool)

    report = await run_import(pool, data)

    assert report == ImportReport(events_unchanged=1)
    assert await dump_tables(pool) == before


async def test_a_renamed_section_is_a_new_layout_revision(pool: asyncpg.Pool) -> None:
    v = drawn_venue()
    data = {"venues": [v], "events": [factories.event(v)]}
    await run_import(pool, data)

    v["sections"][1]["name"] = "Balcony"
    await run_import(pool, data)

    venue, _ = await drawing_rows(pool, v["id"])
    assert venue[4] == 1


async def test_the_seat_map_serves_the_drawing_and_follows_a_redraw(
    pool: asyncpg.Pool, redis_client: redis.Redis, namespace: str
) -> None:
    v = drawn_venue()
    plain = factories.venue(sections=1, rows=1, seats=3)
    drawn_event, plain_event = factories.event(v), factories.event(plain)
    data = {"venues": [v, plain], "events": [drawn_event, plain_event]}
    await run_import(pool, data)
    repo = PostgresHoldRepository(pool)
    keys = RedisKeys(namespace)
    catalog = CatalogCache(redis_client, keys, repo, generation_check_s=0)
    renderer = SeatMapRenderer(RedisSeatGate(redis_client, keys, repo, max_seats_per_user=8), catalog)

    first = await renderer.seat_map(drawn_event["id"])
    body = orjson.loads(first.body)
    assert body["stage"] == {"x": -5.0, "y": -30.0, "width": 30.0, "height": 10.5}
    assert [s["geometry"] for s in body["sections"]] == [{"x": 0.0, "y": 0.0, "rotation": -15.0}, None]
    assert [len(s["seats"]) for s in body["sections"]] == [20, 20]
    bare = orjson.loads((await renderer.seat_map(plain_event["id"])).body)
    assert bare["stage"] is None
    assert [s["geometry"] for s in bare["sections"]] == [None]

    v["sections"][1]["geometry"] = {"x": 12, "y": 0, "rotation": 15}
    await run_import(pool, data)
    await announce_catalog_change(redis_client, keys)  # what `ticketmaster import` does after it

    redrawn = await renderer.seat_map(drawn_event["id"])
    assert redrawn.version == first.version  # no seat changed ...
    assert redrawn.etag != first.etag  # ... yet a client's cached copy is not confirmed
    assert [s["geometry"] for s in orjson.loads(redrawn.body)["sections"]] == [
        {"x": 0.0, "y": 0.0, "rotation": -15.0},
        {"x": 12.0, "y": 0.0, "rotation": 15.0},
    ]
