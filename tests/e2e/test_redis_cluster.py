"""The whole service on a 3-primary Redis Cluster (TICKETMASTER_REDIS_CLUSTER=true, the
URL a seed node): holds over HTTP on two events whose keys live on different primaries,
their seat maps and live streams, and a purchase paid by a worker and sold in Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from functools import partial
from operator import itemgetter
from pathlib import Path

import asyncpg
import httpx
import pytest
from redis.asyncio.cluster import RedisCluster

from tests.cluster import events_apart
from tests.conftest import ServerProcess, delete_namespace
from tests.e2e.buyers import hold, new_buyer, seat_statuses
from tests.e2e.purchase_helpers import SandboxProcess, SandboxSpec, WorkerProcess
from tests.e2e.test_hold_api import one_event
from tests.e2e.test_seat_stream import stream
from tests.fleet import eventually
from ticketmaster.adapters.redis.client import RedisClient
from ticketmaster.adapters.redis.keys import RedisKeys


@pytest.fixture(scope="module")
def cluster_env(
    server_env: dict[str, str], redis_cluster_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The test environment pointed at the cluster, with a sandbox for the worker to pay."""
    sandbox = SandboxProcess(SandboxSpec(latency="5:20"), Path(tmp_path_factory.mktemp("cluster-sandbox")))
    try:
        sandbox.wait_ready()
        yield {
            **server_env,
            "TICKETMASTER_REDIS_URL": redis_cluster_url,
            "TICKETMASTER_REDIS_CLUSTER": "true",
            "TICKETMASTER_SANDBOX_URL": sandbox.url,
        }
    finally:
        sandbox.stop()


@pytest.fixture(scope="module")
def cluster_api(cluster_env: dict[str, str]) -> Iterator[ServerProcess]:
    api = ServerProcess(cluster_env)
    worker = WorkerProcess(cluster_env)
    try:
        api.wait_ready()
        yield api
    finally:
        worker.stop()
        api.stop()


@pytest.fixture
async def cluster_http(
    cluster_api: ServerProcess, redis_cluster_client: RedisClient, namespace: str
) -> AsyncIterator[httpx.AsyncClient]:
    await delete_namespace(redis_cluster_client, namespace)
    async with httpx.AsyncClient(base_url=cluster_api.url, timeout=30) as client:
        yield client


async def _events_on_two_primaries(
    pool: asyncpg.Pool, client: RedisClient, keys: RedisKeys
) -> list[tuple[str, list[str]]]:
    """Two fresh events whose hash tags are served by different primaries."""
    assert isinstance(client, RedisCluster)
    return await events_apart(client, keys, partial(one_event, pool), itemgetter(0))


async def test_holds_streams_and_a_purchase_work_on_a_cluster(
    cluster_http: httpx.AsyncClient, pool: asyncpg.Pool, redis_cluster_client: RedisClient, namespace: str
) -> None:
    http = cluster_http
    keys = RedisKeys(namespace)
    (first, first_seats), (second, second_seats) = await _events_on_two_primaries(
        pool, redis_cluster_client, keys
    )
    buyer = await new_buyer(http)

    async with stream(http, first) as first_stream, stream(http, second) as second_stream:
        await first_stream.next()  # the snapshot event each stream starts with
        await second_stream.next()
        a = await hold(http, buyer, first, first_seats[:2])
        b = await hold(http, buyer, second, second_seats[3:5])
        assert (a.status_code, b.status_code) == (201, 201), (a.text, b.text)
        await first_stream.until(dict.fromkeys(first_seats[:2], "HELD"))
        await second_stream.until(dict.fromkeys(second_seats[3:5], "HELD"))

        first_map, second_map = await asyncio.gather(seat_statuses(http, first), seat_statuses(http, second))
        assert {s for s, status in first_map.items() if status == "HELD"} == set(first_seats[:2])
        assert {s for s, status in second_map.items() if status == "HELD"} == set(second_seats[3:5])
        # The keys really are on the cluster, one event per primary.
        assert await redis_cluster_client.hlen(keys.seats(first)) == 2
        assert await redis_cluster_client.hlen(keys.seats(second)) == 2

        hold_id = b.json()["holdId"]
        headers = {**buyer.auth, "Idempotency-Key": "cluster-purchase"}
        accepted = await http.post(
            f"/holds/{hold_id}/purchase", json={"paymentToken": "tok_visa"}, headers=headers
        )
        assert accepted.status_code == 202, accepted.text
        purchase_id = accepted.json()["purchaseId"]

        async def settled() -> dict[str, str] | None:
            body: dict[str, str] = (await http.get(f"/purchases/{purchase_id}", headers=buyer.auth)).json()
            return None if body["status"] == "PENDING" else body

        outcome = await eventually(settled, within=30, what="the purchase to settle")
        assert outcome["status"] == "SUCCEEDED", outcome
        await second_stream.until(dict.fromkeys(second_seats[3:5], "SOLD"))

    second_map = await seat_statuses(http, second)
    assert {s for s, status in second_map.items() if status == "SOLD"} == set(second_seats[3:5])
    assert set((await redis_cluster_client.hgetall(keys.seats(second))).values()) == {"SOLD"}
