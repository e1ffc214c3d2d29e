"""Start-up refuses a Redis that may evict keys (the gate relies on its idempotency
records and hold keys surviving until they expire): ``serve``, ``worker`` and ``run``
exit with a message naming ``maxmemory-policy`` instead of serving; on a Redis Cluster,
when any node has another policy, naming that node; ``run --local-cluster`` with a Redis URL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster

from tests.conftest import free_port, single_node
from tests.fleet import RedisServer
from ticketmaster.config import Settings
from ticketmaster.entrypoints.cli.commands import require_noeviction


@pytest.fixture
def evicting_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _refused(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``ticketmaster *args`` run to its end, which must be a failure."""
    done = subprocess.run(
        [sys.executable, "-m", "ticketmaster.entrypoints.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0, done.stdout + done.stderr
    return done


@pytest.mark.parametrize("command", ["serve", "worker", "run"])
def test_a_redis_that_may_evict_keys_is_refused_at_start_up(
    command: str, evicting_redis: RedisServer, server_env: dict[str, str]
) -> None:
    env = {
        **os.environ,
        **server_env,
        **single_node(evicting_redis.url),
        "TICKETMASTER_PORT": str(free_port()),
        "TICKETMASTER_SANDBOX_URL": f"http://127.0.0.1:{free_port()}",
    }
    done = _refused(env, command)
    assert "maxmemory-policy" in done.stderr, done.stderr
    assert "allkeys-lru" in done.stderr, done.stderr
    assert "noeviction" in done.stderr, done.stderr


@pytest.mark.parametrize("role", ["master", "slave"])
def test_a_cluster_node_that_may_evict_keys_is_refused_at_start_up(
    role: str, redis_cluster_url: str, settings: Settings
) -> None:
    """Every node of a Cluster is checked, replicas too (a failover makes one a primary):
    one node with an evicting policy stops start-up, and the message names that node only."""
    on_cluster = replace(settings, redis_url=redis_cluster_url, redis_cluster=True)
    require_noeviction(on_cluster)  # every node noeviction: start-up goes on
    with RedisCluster.from_url(redis_cluster_url, decode_responses=True) as cluster:
        nodes = cluster.cluster_nodes()
    assert len(nodes) == 6, nodes
    address = sorted(a for a, node in nodes.items() if role in node["flags"])[-1]
    host, port = address.split(":")
    with redis.Redis(host=host, port=int(port), decode_responses=True) as node:
        node.config_set("maxmemory-policy", "allkeys-lru")
        try:
            with pytest.raises(SystemExit) as refused:
                require_noeviction(on_cluster)
        finally:
            node.config_set("maxmemory-policy", "noeviction")
    message = str(refused.value)
    assert f"{address} (allkeys-lru)" in message, message
    assert "noeviction" in message, message
    assert not [other for other in nodes if other != address and other in message], message
    require_noeviction(on_cluster)  # restored: start-up goes on again


def test_run_local_cluster_refuses_a_redis_url(server_env: dict[str, str], tmp_path: Path) -> None:
    """``run --local-cluster`` starts its own Redis: a TICKETMASTER_REDIS_URL is a mistake."""
    done = _refused(
        {**os.environ, **server_env, "TICKETMASTER_DATA_DIR": str(tmp_path)}, "run", "--local-cluster"
    )
    assert "unset TICKETMASTER_REDIS_URL" in done.stderr, done.stderr
    assert not list(tmp_path.glob("redis-cluster-*"))
