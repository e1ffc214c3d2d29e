"""Failover drills under load (issue 15), on a Redis Cluster of this module's own (3
primaries, 3 replicas) under an API server, a worker and a payment sandbox, all real
processes, driven through the public API only.

- A primary SIGKILLed while 200 clients hold seats and pay: its replica is promoted after
  the cluster node timeout; meanwhile the API answers that event's requests 503 (never a
  5xx of another kind, never a wrong 2xx); holds resume by themselves, with no restart.
- ``CLUSTER FAILOVER`` (an operator's planned switch) while purchases are in flight.

Each ends with what the Redis chaos test checks (tests.fleet.answers_by_outcome, assert_sale_intact: every
accepted purchase SUCCEEDED, every booked seat SOLD, every acknowledged hold still held,
each refused to a new buyer) and ``ticketmaster audit`` exit 0. The recovery time (kill ->
first 201 on the event) and the events rebuilt as stale are printed.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis

from tests import factories
from tests.cluster import REDIS
from tests.e2e.buyers import hold, new_buyer, new_buyers
from tests.fleet import (
    Fleet,
    Shoppers,
    answers_by_outcome,
    assert_sale_intact,
    cli,
    eventually,
    fleet_http,
    own_fleet,
)
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.local_cluster import ClusterNodeProcess, LocalRedisCluster

SESSIONS = 200


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedisCluster]:
    own = LocalRedisCluster(tmp_path_factory.mktemp("drill-cluster"), binaries=REDIS)
    own.start()
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture
def fleet(server_env: dict[str, str], cluster: LocalRedisCluster, tmp_path: Path) -> Iterator[Fleet]:
    settings = {
        "TICKETMASTER_REDIS_URL": _live_seed(cluster),
        "TICKETMASTER_REDIS_CLUSTER": "true",
        "TICKETMASTER_WORKER_LEASE_SECONDS": "3",
        "TICKETMASTER_RATE_LIMIT_PER_SECOND": "100",
        "TICKETMASTER_RATE_LIMIT_BURST": "100",
        "TICKETMASTER_MAX_IN_FLIGHT": "4096",
    }
    with own_fleet(server_env, tmp_path, settings, sandbox_latency="100:400") as running:
        yield running


http = fleet_http()


def _live_seed(cluster: LocalRedisCluster) -> str:
    """A seed URL of a node that still answers (an earlier drill may have killed the first)."""
    node = next(n for n in cluster.nodes if n.answers())
    return f"redis://127.0.0.1:{node.port}/0"


def _serving(cluster: LocalRedisCluster, key: str) -> tuple[ClusterNodeProcess, ClusterNodeProcess]:
    """The primary serving ``key`` and its replica."""
    with redis.RedisCluster.from_url(_live_seed(cluster), decode_responses=True) as client:
        port = int(client.get_node_from_key(key).port)  # type: ignore[no-untyped-call]
    primary = next(n for n in cluster.nodes if n.port == port)
    for node in cluster.nodes:
        if node.answers():
            with node.client() as c:
                if int(c.info("replication").get("master_port", 0)) == port:
                    return primary, node
    raise AssertionError(f"no replica of :{port}")


def _is_primary(node: ClusterNodeProcess) -> bool:
    try:
        return node.cluster_info()["role"] == "master"
    except redis.RedisError:
        return False


async def _event_with_replica(
    pool: asyncpg.Pool, cluster: LocalRedisCluster, namespace: str, sections: int
) -> tuple[str, list[str], ClusterNodeProcess, ClusterNodeProcess]:
    """A fresh event (10 x 10 seats per section) whose primary has a live replica."""
    while True:
        v = factories.venue(sections=sections, rows=10, seats=10)
        e = factories.event(v)
        try:
            primary, replica = _serving(cluster, RedisKeys(namespace).seats(e["id"]))
        except AssertionError:
            continue  # that shard lost its replica in an earlier drill
        await factories.load(pool, {"venues": [v], "events": [e]})
        seats = [f"{s['id']}-{r['id']}-{n}" for s in v["sections"] for r in s["rows"] for n in range(1, 11)]
        return e["id"], seats, primary, replica


async def _stale_rebuilds(http: httpx.AsyncClient) -> float:
    text = (await http.get("/metrics")).text
    found = re.search(r'^ticketmaster_seat_state_loads_total\{reason="stale"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


async def _first_hold_after(http: httpx.AsyncClient, event_id: str, seats: list[str]) -> float:
    """When a probe buyer, asking for a fresh seat every 20 ms, first gets a 201."""
    probe_buyer = await new_buyer(http)

    async def probe() -> float | None:
        response = await hold(http, probe_buyer, event_id, [seats.pop()])
        if response.status_code == 201:
            return time.monotonic()
        assert response.status_code == 503, response.text
        await asyncio.sleep(0.02)
        return None

    return await eventually(probe, within=60, what="a hold to succeed again", every=0)


async def _resumed(shoppers: Shoppers, load: asyncio.Task[None], since: float, count: int) -> None:
    async def goes_on() -> bool | None:
        assert not load.done(), load
        fresh = [a for a in shoppers.journal.of("hold") if a.sent > since and a.status == 201]
        return True if len(fresh) >= count else None

    await eventually(goes_on, within=60, what="the shoppers to hold seats again")


async def test_a_primary_sigkilled_under_200_clients_fails_over_and_the_sale_goes_on(
    fleet: Fleet,
    http: httpx.AsyncClient,
    pool: asyncpg.Pool,
    cluster: LocalRedisCluster,
    namespace: str,
    run_slow: bool,
) -> None:
    sections = 60 if run_slow else 40
    event_id, seats, primary, replica = await _event_with_replica(pool, cluster, namespace, sections)
    # Each attempt takes a seat of its own, a refused one too: a 1 s back-off after a 503
    # keeps the seats the outage burns (200 clients for the ~7 s of a failover) in budget.
    shoppers = Shoppers(http, event_id, seats, await new_buyers(http, 300), think_s=0.2, backoff_s=1.0)
    stop = asyncio.Event()
    load = asyncio.create_task(shoppers.run(stop, sessions=SESSIONS))
    stale_before = await _stale_rebuilds(http)
    try:

        async def under_way() -> bool | None:
            assert not load.done(), load
            return True if len(shoppers.acked) >= 200 and len(shoppers.accepted) >= 20 else None

        await eventually(under_way, within=60, what="the sale to get going")
        assert primary.process is not None
        primary.process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        recovered_at = await _first_hold_after(http, event_id, shoppers.seats)

        async def promoted() -> bool | None:
            return True if _is_primary(replica) else None

        await eventually(promoted, within=30, what="the replica's promotion")
        await _resumed(shoppers, load, recovered_at, 50)
    finally:
        stop.set()
        await load
    outcomes = answers_by_outcome(shoppers.journal)
    down = [a for a in shoppers.journal.of("hold") if killed_at < a.sent and a.received < recovered_at]
    assert any(a.status == 503 for a in down), "no hold was refused while the primary was down"
    print(
        f"SIGKILL of the event's primary under {SESSIONS} clients: kill -> first 201 "
        f"{recovered_at - killed_at:.2f} s; answers {dict(outcomes)}; events rebuilt as stale "
        f"by the API: {await _stale_rebuilds(http) - stale_before:.0f}"
    )
    await assert_sale_intact(http, pool, shoppers, event_id)
    audit = await cli({**fleet.env, "TICKETMASTER_REDIS_URL": _live_seed(cluster)}, "audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr


async def test_a_manual_failover_while_purchases_are_in_flight_loses_nothing(
    fleet: Fleet,
    http: httpx.AsyncClient,
    pool: asyncpg.Pool,
    cluster: LocalRedisCluster,
    namespace: str,
    run_slow: bool,
) -> None:
    sections = 20 if run_slow else 10
    event_id, seats, primary, replica = await _event_with_replica(pool, cluster, namespace, sections)
    buyers = await new_buyers(http, 120 if run_slow else 60)
    shoppers = Shoppers(http, event_id, seats, buyers, purchase_share=1.0, think_s=0.1)
    stop = asyncio.Event()
    load = asyncio.create_task(shoppers.run(stop, sessions=40 if run_slow else 20))
    try:

        async def in_flight() -> int | None:
            assert not load.done(), load
            if len(shoppers.accepted) < 10:
                return None
            pending = await pool.fetchval(
                "SELECT count(*) FROM purchases WHERE id = ANY($1::text[]) AND status = 'PENDING'",
                list(shoppers.accepted),
            )
            return int(pending) or None

        pending = await eventually(in_flight, within=60, what="purchases in flight")
        with replica.client() as node:
            assert node.execute_command("CLUSTER", "FAILOVER") in (b"OK", "OK", True)
        switched_at = time.monotonic()

        async def promoted() -> bool | None:
            return True if _is_primary(replica) and not _is_primary(primary) else None

        await eventually(promoted, within=30, what="the manual failover")
        promoted_after = time.monotonic() - switched_at
        await _resumed(shoppers, load, time.monotonic(), 20)
    finally:
        stop.set()
        await load
    outcomes = answers_by_outcome(shoppers.journal)
    print(
        f"CLUSTER FAILOVER with {pending} purchases in flight: roles switched after "
        f"{promoted_after:.2f} s; answers {dict(outcomes)}"
    )
    await assert_sale_intact(http, pool, shoppers, event_id)
    audit = await cli({**fleet.env, "TICKETMASTER_REDIS_URL": _live_seed(cluster)}, "audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr
