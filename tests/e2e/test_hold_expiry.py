"""Expired means free (I4), with no sweeper or listener running: a server with a 1 s hold
TTL must stop honouring a hold the moment it expires and let another buyer take its seat."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
import redis.asyncio as redis

from tests import factories
from tests.conftest import ServerProcess
from tests.e2e.buyers import hold, new_buyers, seat_statuses
from ticketmaster.adapters.redis.keys import RedisKeys

TTL = timedelta(seconds=1)
# I4: seats are shown AVAILABLE again within 1 s of the expiry.
SHOWN_FREE_WITHIN = timedelta(seconds=1)


@pytest.fixture(scope="module")
def short_ttl_server(server_env: dict[str, str]) -> Iterator[ServerProcess]:
    proc = ServerProcess(server_env | {"TICKETMASTER_HOLD_TTL_SECONDS": "1"})
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def short_http(short_ttl_server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=short_ttl_server.url, timeout=30) as client:
        yield client


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def wait_for(condition: Callable[[], Awaitable[bool]], deadline: datetime, what: str) -> datetime:
    """Poll ``condition`` until it holds; return when it first did. Fails past ``deadline``."""
    while True:
        if await condition():
            return datetime.now(UTC)
        if datetime.now(UTC) > deadline:
            pytest.fail(f"{what} still not true at {deadline.isoformat()}")
        await asyncio.sleep(0.01)


async def test_an_expired_hold_is_not_honoured_and_its_seat_goes_to_the_next_buyer(
    short_http: httpx.AsyncClient, pool: asyncpg.Pool, redis_client: redis.Redis, namespace: str
) -> None:
    v = factories.venue(sections=1, rows=1, seats=5)
    e = factories.event(v)
    await factories.load(pool, {"venues": [v], "events": [e]})
    seat = f"{v['sections'][0]['id']}-A-3"
    alice, bob = await new_buyers(short_http, 2)
    started = datetime.now(UTC)

    first = await hold(short_http, alice, e["id"], [seat], key="alice-1")
    assert first.status_code == 201, first.text
    alice_hold = first.json()
    expires_at = parse(alice_hold["expiresAt"])
    assert started + TTL - timedelta(milliseconds=200) <= expires_at <= datetime.now(UTC) + TTL
    refused = await hold(short_http, bob, e["id"], [seat])
    assert refused.status_code == 409, refused.text
    assert refused.json()["seatIds"] == [seat]

    async def alice_sees(status: str) -> bool:
        response = await short_http.get(f"/holds/{alice_hold['holdId']}", headers=alice.auth)
        assert response.status_code == 200, response.text
        seen = response.json()["status"]
        assert seen in ("ACTIVE", "EXPIRED"), seen
        return bool(seen == status)

    expired_seen = await wait_for(lambda: alice_sees("EXPIRED"), expires_at + timedelta(seconds=5), "EXPIRED")
    assert expired_seen >= expires_at - timedelta(milliseconds=50), "reported EXPIRED before its expiry"

    async def shown_available() -> bool:
        return (await seat_statuses(short_http, e["id"]))[seat] == "AVAILABLE"

    await wait_for(shown_available, expires_at + SHOWN_FREE_WITHIN, "the seat shown AVAILABLE")

    taken = await hold(short_http, bob, e["id"], [seat])
    assert taken.status_code == 201, taken.text
    bob_hold = taken.json()
    bob_expires = parse(bob_hold["expiresAt"])
    raw = await redis_client.hget(RedisKeys(namespace).seats(e["id"]), seat)
    assert raw is not None
    assert raw.split("|")[0] == bob_hold["holdId"]

    async def shown_held() -> bool:
        return (await seat_statuses(short_http, e["id"]))[seat] == "HELD"

    # The seat map may lag by its render cache; it must show Bob's hold while it lives.
    await wait_for(shown_held, bob_expires, "the seat shown HELD for the new hold")

    assert await alice_sees("EXPIRED")
    # Alice retrying her original request gets her original answer back, not Bob's seat.
    replay = await hold(short_http, alice, e["id"], [seat], key="alice-1")
    assert replay.status_code == 201
    assert replay.json() == alice_hold
    raw = await redis_client.hget(RedisKeys(namespace).seats(e["id"]), seat)
    assert raw is not None
    assert raw.split("|")[0] == bob_hold["holdId"]
    rows = await pool.fetch("SELECT id, user_id FROM holds WHERE event_id = $1", e["id"])
    assert {(r["id"], r["user_id"]) for r in rows} == {
        (alice_hold["holdId"], alice.user_id),
        (bob_hold["holdId"], bob.user_id),
    }
