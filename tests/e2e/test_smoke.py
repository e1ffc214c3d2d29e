"""The server answers its operational endpoints and serves an imported event."""

from __future__ import annotations

import asyncpg
import httpx

from tests import factories


async def test_health_ready_and_an_imported_event(http: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    v = factories.venue(city="Lisbon")
    e = factories.event(v, title="Fado Night")
    await factories.load(pool, {"venues": [v], "events": [e]})

    assert (await http.get("/healthz")).status_code == 200
    ready = await http.get("/readyz")
    assert ready.json() == {"status": "ready", "postgres": "ok", "redis": "ok"}
    listing = await http.get("/events", params={"city": "lisbon"})
    assert [ev["id"] for ev in listing.json()["events"]] == [e["id"]]
    assert listing.json()["events"][0]["venueName"] == "Arena"
