"""The browse micro-cache in front of the API: identical requests share one rendered
answer for its TTL (ETag and 304 included); errors are never cached."""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
import httpx
import pytest

from tests import factories
from tests.conftest import ServerProcess


@pytest.fixture
def cached_server(server_env: dict[str, str]) -> Iterator[ServerProcess]:
    proc = ServerProcess({**server_env, "TICKETMASTER_BROWSE_CACHE_SECONDS": "60"})
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


async def test_listings_are_served_from_the_cache_until_it_expires(
    cached_server: ServerProcess, pool: asyncpg.Pool
) -> None:
    v = factories.venue(city="Porto")
    e = factories.event(v, title="Before")
    await factories.load(pool, {"venues": [v], "events": [e]})
    async with httpx.AsyncClient(base_url=cached_server.url) as http:
        first = await http.get("/events", params={"city": "Porto"})
        detail = await http.get(f"/events/{e['id']}")
        await pool.execute("UPDATE events SET title = 'After' WHERE id = $1", e["id"])

        again = await http.get("/events", params={"city": "Porto"})
        not_modified = await http.get(
            "/events", params={"city": "Porto"}, headers={"If-None-Match": first.headers["etag"]}
        )
        other_query = await http.get("/events", params={"city": "porto"})
        detail_again = await http.get(f"/events/{e['id']}")

    assert first.json()["events"][0]["title"] == "Before"
    assert again.content == first.content
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["cache-control"] == first.headers["cache-control"]
    assert not_modified.status_code == 304
    assert other_query.json()["events"][0]["title"] == "After"  # another URL, another entry
    assert detail_again.json()["title"] == detail.json()["title"] == "Before"


async def test_errors_and_seat_maps_are_never_cached(
    cached_server: ServerProcess, pool: asyncpg.Pool
) -> None:
    async with httpx.AsyncClient(base_url=cached_server.url) as http:
        missing = await http.get("/events/evt_later")
        v = factories.venue()
        e = factories.event(v, event_id="evt_later")
        await factories.load(pool, {"venues": [v], "events": [e]})
        found = await http.get("/events/evt_later")

    assert missing.status_code == 404
    assert found.status_code == 200
