"""``/readyz`` over real HTTP: a flood costs one engine check per second, and a Redis that
dies turns the answer to 503 within about a second (then back to 200 once it returns).

The server uses a Redis of the test's own, so its PING count (``INFO commandstats``) is
this server's alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import ServerProcess, own_server, single_node
from tests.e2e.crowd import Crowd
from tests.fleet import LEAN_POOL, RedisServer, eventually


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ready_server(server_env: dict[str, str], own_redis: RedisServer) -> Iterator[ServerProcess]:
    # No warm-up loop: its Redis reads are not the probe's.
    env = server_env | LEAN_POOL | single_node(own_redis.url) | {"TICKETMASTER_WARMUP_SECONDS": "0"}
    with own_server(env) as server:
        yield server


def pings(port: int) -> int:
    client = redis.Redis(port=port)
    try:
        return int(client.info("commandstats").get("cmdstat_ping", {}).get("calls", 0))
    finally:
        client.close()


async def test_a_readyz_flood_costs_one_check_a_second_and_a_dead_redis_shows_within_one(
    ready_server: ServerProcess, own_redis: RedisServer
) -> None:
    before = pings(own_redis.port)
    started = time.monotonic()
    async with Crowd(ready_server.url, connections=20) as crowd:
        replies = await asyncio.gather(*(crowd.get("/readyz") for _ in range(1000)))
    seconds = time.monotonic() - started
    assert {r.status_code for r in replies} == {200}
    # One PING per started second of the flood (and one more for a check at its edge).
    assert pings(own_redis.port) - before - 1 <= seconds + 2, (pings(own_redis.port) - before, seconds)

    async with httpx.AsyncClient(base_url=ready_server.url, timeout=5) as http:
        own_redis.kill()
        killed = time.monotonic()

        async def unready() -> httpx.Response | None:
            response = await http.get("/readyz")
            return response if response.status_code == 503 else None

        down = await eventually(unready, within=5, what="/readyz to turn 503")
        assert time.monotonic() - killed < 2.0  # the cached answer lives a second, the check is quick
        assert down.json()["redis"].startswith("down")
        assert down.headers["retry-after"] == "2"

        own_redis.start()

        async def ready() -> httpx.Response | None:
            response = await http.get("/readyz")
            return response if response.status_code == 200 else None

        await eventually(ready, within=10, what="/readyz to be 200 again")
