"""The venue drawing through HTTP: ``GET /events/{id}/seats`` carries each section's
geometry and the venue's stage as imported, null where the file had none."""

from __future__ import annotations

import gzip
import json

import asyncpg
import httpx

from tests import factories
from tests.e2e.buyers import seat_map


async def test_the_seat_map_carries_the_imported_drawing(http: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    v = factories.venue(sections=3, rows=2, seats=10)
    v["stage"] = {"x": -10, "y": -25.5, "width": 40, "height": 12}
    v["sections"][0]["geometry"] = {"x": 0, "y": 0, "rotation": 0}
    v["sections"][1]["geometry"] = {"x": 14.5, "y": -3, "rotation": 22.5}
    e = factories.event(v)
    await factories.load(pool, {"venues": [v], "events": [e]})

    body = await seat_map(http, e["id"])

    assert body["stage"] == {"x": -10, "y": -25.5, "width": 40, "height": 12}
    assert [s["id"] for s in body["sections"]] == ["sec0", "sec1", "sec2"]
    assert [s["geometry"] for s in body["sections"]] == [
        {"x": 0, "y": 0, "rotation": 0},
        {"x": 14.5, "y": -3, "rotation": 22.5},
        None,  # the file left this one for the app to place
    ]
    assert all(len(s["seats"]) == 20 for s in body["sections"])
    # The gzipped body and a revalidation carry the same drawing.
    async with http.stream("GET", f"/events/{e['id']}/seats", headers={"Accept-Encoding": "gzip"}) as zipped:
        raw = b"".join([chunk async for chunk in zipped.aiter_raw()])
        etag = zipped.headers["ETag"]
    assert json.loads(gzip.decompress(raw)) == body
    again = await http.get(f"/events/{e['id']}/seats", headers={"If-None-Match": etag})
    assert again.status_code == 304


async def test_a_venue_without_a_drawing_has_null_stage_and_geometry(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    v = factories.venue(sections=2, rows=1, seats=5)
    e = factories.event(v)
    await factories.load(pool, {"venues": [v], "events": [e]})

    body = await seat_map(http, e["id"])

    assert "stage" in body
    assert body["stage"] is None
    assert [s["geometry"] for s in body["sections"]] == [None, None]
