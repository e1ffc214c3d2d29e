"""A real Redis Cluster for the tests: ticketmaster.local_cluster's 3 primaries and 3
replicas of the machine's ``redis-server --cluster-enabled yes`` (node timeout of seconds,
failovers within seconds, no persistence), stopped by PID and dying with the test process.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from redis.asyncio.cluster import RedisCluster

from ticketmaster.adapters.redis.client import RedisClient
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.local_cluster import ClusterBinaries
from ticketmaster.processes import free_port

# Always the machine's Redis, whatever else is installed (the embedded Valkey).
REDIS = ClusterBinaries("/usr/bin/redis-server", "/usr/bin/redis-cli")
T = TypeVar("T")


def local_clusters(data_dir: Path) -> list[dict[str, Any]]:
    """The cluster.json of every local cluster ``run --local-cluster`` keeps under ``data_dir``."""
    return [json.loads(p.read_text()) for p in data_dir.glob("redis-cluster-*/cluster.json")]


def local_cluster_run_env(server_env: dict[str, str], data_dir: Path, namespace: str) -> dict[str, str]:
    """The configuration of a ``run --local-cluster`` (it starts its own Redis and sandbox)."""
    own_redis = ("TICKETMASTER_REDIS_URL", "TICKETMASTER_REDIS_CLUSTER")  # run starts its own
    env = {key: value for key, value in server_env.items() if key not in own_redis}
    return env | {
        "TICKETMASTER_DATA_DIR": str(data_dir),
        "TICKETMASTER_REDIS_NAMESPACE": namespace,
        "TICKETMASTER_SANDBOX_URL": f"http://127.0.0.1:{free_port()}",
    }


def listening(port: int) -> bool:
    """Whether anything accepts connections on the loopback ``port`` (a plain connect: redis-py
    retries a refused connection with back-off, seconds per call)."""
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def events_apart(
    client: RedisClient, keys: RedisKeys, new_event: Callable[[], Awaitable[T]], event_id: Callable[[T], str]
) -> list[T]:
    """Two fresh events made by ``new_event``; on a Redis Cluster, events whose hash tags
    are served by different primaries (any two on one node)."""
    first = await new_event()
    while True:
        second = await new_event()
        if not isinstance(client, RedisCluster):
            return [first, second]
        nodes = {client.get_node_from_key(keys.seats(event_id(e))) for e in (first, second)}
        if len(nodes) == 2:
            return [first, second]
