"""``ticketmaster run --local-cluster`` (``make run-cluster``): the whole system on a fresh
local 3-primary, 3-replica Redis Cluster it starts itself, and stops and removes on exit."""

from __future__ import annotations

import signal
from pathlib import Path

import asyncpg
import httpx
import redis

from tests.cluster import listening, local_cluster_run_env, local_clusters
from tests.conftest import ServerProcess
from tests.e2e.buyers import hold, new_buyer
from tests.e2e.test_hold_api import one_event
from ticketmaster.adapters.redis.client import create_client
from ticketmaster.adapters.redis.keys import RedisKeys


async def test_run_local_cluster_serves_holds_from_a_cluster_it_starts_and_stops(
    server_env: dict[str, str], pool: asyncpg.Pool, tmp_path: Path
) -> None:
    event_id, seats = await one_event(pool)  # a catalog, so `run` loads no demo data
    env = local_cluster_run_env(server_env, tmp_path, "tmruncluster")
    server = ServerProcess(env, "run", ("--local-cluster",))
    try:
        server.wait_ready(timeout=60)
        [runtime] = local_clusters(tmp_path)
        ports = [int(node["port"]) for node in runtime["nodes"]]
        assert len(ports) == 6
        for port in ports:
            with redis.Redis(port=port, decode_responses=True) as node:
                assert "cluster_state:ok" in str(node.execute_command("CLUSTER", "INFO"))
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            buyer = await new_buyer(http)
            held = await hold(http, buyer, event_id, seats[:2])
            assert held.status_code == 201, held.text
        cluster = create_client(runtime["url"], cluster=True)
        try:  # the hold is in the cluster's keys of the event
            assert await cluster.hlen(RedisKeys("tmruncluster").seats(event_id)) == 2
        finally:
            await cluster.aclose()
    finally:
        server.stop()
    assert server.process.returncode == 128 + signal.SIGTERM  # unwound by its SIGTERM handler
    assert not [port for port in ports if listening(port)]  # every node stopped
    assert not local_clusters(tmp_path)  # and its directory removed
