"""Seat streams have caps of their own over real HTTP (I8): per process and per client
address, 503 ``overloaded`` with Retry-After beyond either, and the places come back when a
stream's client leaves.

The server under test allows 3 streams per process and 2 per client, exempts nobody, and
trusts 127.0.0.1 as a proxy, so each ``X-Forwarded-For`` below is a client of its own.
"""

from __future__ import annotations

from contextlib import AsyncExitStack

import asyncpg
import httpx

from tests.conftest import server_with_settings
from tests.e2e.test_hold_api import one_event
from tests.fleet import LEAN_POOL, eventually

CAPS = {
    "TICKETMASTER_STREAMS_PER_PROCESS": "3",
    "TICKETMASTER_STREAMS_PER_CLIENT": "2",
    "TICKETMASTER_CLIENT_LIMIT_EXEMPT": "none",
    "TICKETMASTER_TRUSTED_PROXIES": "127.0.0.1",
}


settings_server, client = server_with_settings("caps", LEAN_POOL | CAPS)


async def open_stream(
    stack: AsyncExitStack, http: httpx.AsyncClient, event_id: str, client: str
) -> httpx.Response:
    """A stream of ``event_id`` as the client at ``client``, held open by ``stack``; its
    first event read when it was let in."""
    response = await stack.enter_async_context(
        http.stream("GET", f"/events/{event_id}/seats/stream", headers={"X-Forwarded-For": client})
    )
    if response.status_code == 200:
        lines = response.aiter_lines()
        await anext(lines)
        # Dropping the reader would let the garbage collector close the stream early.
        stack.push_async_callback(lines.aclose)
    else:
        await response.aread()
    return response


def assert_overloaded(response: httpx.Response) -> None:
    assert response.status_code == 503
    assert response.json()["error"] == "overloaded"
    assert response.headers["retry-after"] == "5"


async def test_streams_are_capped_per_client_and_per_process_and_freed_on_leaving(
    clean: None, pool: asyncpg.Pool, client: httpx.AsyncClient
) -> None:
    event_id, _ = await one_event(pool)
    async with AsyncExitStack() as stack:
        first = AsyncExitStack()
        await stack.enter_async_context(first)
        assert (await open_stream(first, client, event_id, "203.0.113.1")).status_code == 200
        assert (await open_stream(stack, client, event_id, "203.0.113.1")).status_code == 200
        assert_overloaded(await open_stream(stack, client, event_id, "203.0.113.1"))  # a third, one client

        assert (await open_stream(stack, client, event_id, "203.0.113.2")).status_code == 200
        assert_overloaded(await open_stream(stack, client, event_id, "203.0.113.3"))  # the process is full
        assert (await client.get(f"/events/{event_id}")).status_code == 200  # other requests go on

        await first.aclose()  # one of 203.0.113.1's streams ends: its place is free again

        async def let_in() -> httpx.Response | None:
            async with AsyncExitStack() as probe:
                response = await open_stream(probe, client, event_id, "203.0.113.3")
            return response if response.status_code == 200 else None

        await eventually(let_in, within=5, what="a freed stream place")

    metrics = (await client.get("/metrics")).text
    assert 'ticketmaster_shed_requests_total{reason="client_streams"} 1.0' in metrics
    assert 'ticketmaster_shed_requests_total{reason="streams"}' in metrics
