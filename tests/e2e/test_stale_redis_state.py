"""A Redis whose event state went back in time: restored from an older snapshot (I1, I2, I5).

The event's keys (its "loaded" marker included) are saved with DUMP, then more holds and a
sale are acknowledged, then the event's keys are put back as they were (RESTORE), as a
Redis restarted from an older RDB file, or a promoted replica that missed the last writes,
would have them. Nothing tells the service but the generation PostgreSQL recorded with the
acknowledged changes (scripts/new_hold.lua, "Generations"). Through HTTP only:

- the seat map shows the sold seat SOLD and the later hold HELD, not the older state;
- the sold seat and the later held seat cannot be held again;
- the later hold is still ACTIVE; ``ticketmaster audit`` passes.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis.asyncio as redis

from tests import factories
from tests.conftest import ServerProcess
from tests.e2e.buyers import hold, new_buyer, seat_statuses
from tests.fleet import LEAN_POOL, RedisServer, Sandbox, api, cli, eventually, worker
from ticketmaster.adapters.redis.keys import RedisKeys


@dataclass
class Stack:
    redis: RedisServer
    server: ServerProcess
    keys: RedisKeys
    env: dict[str, str]


@pytest.fixture
def stack(server_env: dict[str, str], tmp_path: Path) -> Iterator[Stack]:
    own_redis = RedisServer(tmp_path / "redis")
    own_redis.start()
    sandbox = Sandbox(tmp_path / "sandbox")
    env = {
        **server_env,
        **LEAN_POOL,
        "TICKETMASTER_REDIS_URL": own_redis.url,
        "TICKETMASTER_SANDBOX_URL": sandbox.url,
    }
    server, processor = api(env), worker(env)
    try:
        sandbox.wait_ready()
        server.wait_ready()
        yield Stack(own_redis, server, RedisKeys(env["TICKETMASTER_REDIS_NAMESPACE"]), env)
    finally:
        for proc in (server, processor):
            proc.stop()
        sandbox.stop()
        own_redis.stop()


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.server.url, timeout=30) as client:
        yield client


@pytest.fixture
async def own_redis(stack: Stack) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(stack.redis.url)
    try:
        yield client
    finally:
        await client.aclose()


async def event_keys(client: redis.Redis, keys: RedisKeys, event_id: str) -> list[bytes]:
    pattern = keys.event_tag(event_id).replace("{", "\\{").replace("}", "\\}") + ":*"
    return [key async for key in client.scan_iter(match=pattern, count=1000)]


async def test_an_event_state_restored_from_an_older_snapshot_is_rebuilt_before_it_is_used(
    stack: Stack, http: httpx.AsyncClient, own_redis: redis.Redis, pool: asyncpg.Pool
) -> None:
    v = factories.venue(sections=1, rows=1, seats=10)
    e = factories.event(v)
    await factories.load(pool, {"venues": [v], "events": [e]})
    event_id = e["id"]
    early, payer, later, intruder = [await new_buyer(http) for _ in range(4)]
    first = await hold(http, early, event_id, ["sec0-A-1"])
    assert first.status_code == 201, first.text

    saved = {}
    for key in await event_keys(own_redis, stack.keys, event_id):
        saved[key] = (await own_redis.dump(key), await own_redis.pttl(key))
    assert stack.keys.loaded(event_id).encode() in saved, "the snapshot has the loaded marker"

    # After the snapshot: a sale and a hold, both acknowledged.
    bought = await hold(http, payer, event_id, ["sec0-A-2"])
    assert bought.status_code == 201, bought.text
    purchase = await http.post(
        f"/holds/{bought.json()['holdId']}/purchase", json={"paymentToken": "tok_visa"}, headers=payer.auth
    )
    assert purchase.status_code == 202, purchase.text

    async def sold() -> bool | None:
        response = await http.get(f"/purchases/{purchase.json()['purchaseId']}", headers=payer.auth)
        assert response.json()["status"] != "FAILED", response.text
        return True if response.json()["status"] == "SUCCEEDED" else None

    await eventually(sold, within=30, what="the purchase to succeed")
    kept = await hold(http, later, event_id, ["sec0-A-3"])
    assert kept.status_code == 201, kept.text

    # Back in time: the event's keys exactly as they were at the snapshot.
    await own_redis.delete(*await event_keys(own_redis, stack.keys, event_id))
    for key, (dump, pttl) in saved.items():
        await own_redis.restore(key, max(pttl, 0), dump, replace=True)
    restored = await own_redis.hget(stack.keys.seats(event_id), "sec0-A-2")
    assert restored is None, "the restored state has the sold seat available"

    shown = await seat_statuses(http, event_id)
    assert (shown["sec0-A-1"], shown["sec0-A-2"], shown["sec0-A-3"]) == ("HELD", "SOLD", "HELD"), shown
    for seat in ("sec0-A-2", "sec0-A-3"):
        refused = await hold(http, intruder, event_id, [seat], key=secrets.token_hex(8))
        assert refused.status_code == 409, refused.text
        assert refused.json()["seatIds"] == [seat], refused.text
    still = await http.get(f"/holds/{kept.json()['holdId']}", headers=later.auth)
    assert still.json()["status"] == "ACTIVE", still.text
    fresh = await hold(http, intruder, event_id, ["sec0-A-4"])
    assert fresh.status_code == 201, fresh.text

    audit = await cli(stack.env, "audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr
