"""A real Redis Cluster for the tests: 3 primaries and 3 replicas of the machine's
``redis-server --cluster-enabled yes`` on free loopback ports, in a temporary directory,
without persistence and with a short ``cluster-node-timeout`` (failovers within seconds).

``redis-cli --cluster create`` assigns the slots and the replicas. The servers are stopped
by their PIDs, and each is started with a parent-death signal (``PR_SET_PDEATHSIG``), so a
test process that dies (SIGKILL, a crash) takes its cluster with it.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import redis
from redis.asyncio.cluster import RedisCluster

from tests.conftest import free_port
from ticketmaster.adapters.redis.client import RedisClient
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.processes import end_process

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_CLI = "/usr/bin/redis-cli"
NODE_TIMEOUT_MS = 1000
_PR_SET_PDEATHSIG = 1
T = TypeVar("T")


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel SIGKILLs it when its parent dies."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class ClusterNodeProcess:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.bus_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--cluster-enabled", "yes", "--cluster-port", str(self.bus_port)]
        args += ["--cluster-config-file", str(self.directory / "nodes.conf")]
        args += ["--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--save", "", "--appendonly", "no"]
        args += ["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]
        args += ["--dir", str(self.directory), "--logfile", str(self.directory / "redis.log")]
        self.process = subprocess.Popen(args, preexec_fn=_die_with_parent)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, decode_responses=True)

    def answers(self) -> bool:
        try:
            with self.client() as c:
                return bool(c.ping())
        except redis.RedisError:
            return False

    def cluster_info(self) -> dict[str, str]:
        """CLUSTER INFO, plus this node's ``role`` and (replicas) ``master_link_status``."""
        with self.client() as c:
            text = str(c.execute_command("CLUSTER", "INFO"))
            replication = c.info("replication")
        info = dict(line.split(":", 1) for line in text.split() if ":" in line)
        info["role"] = str(replication.get("role"))
        info["master_link_status"] = str(replication.get("master_link_status", "up"))
        return info

    def stop(self) -> None:
        end_process(self.process)


class LocalRedisCluster:
    """``primaries`` primaries with one replica each; ``url`` is a seed node."""

    def __init__(self, directory: Path, primaries: int = 3) -> None:
        self.nodes = [ClusterNodeProcess(directory / f"node{i}") for i in range(primaries * 2)]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def start(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            while not node.answers():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"redis-server on port {node.port} did not start")
                time.sleep(0.02)
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [REDIS_CLI, "--cluster", "create", *addresses, "--cluster-replicas", "1", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        while not self.ready():
            if time.monotonic() > deadline:
                raise TimeoutError("the cluster did not reach cluster_state:ok")
            time.sleep(0.05)

    def ready(self) -> bool:
        """Every node sees every slot served and every other node (and replicas are in sync)."""
        try:
            infos = [node.cluster_info() for node in self.nodes]
        except redis.RedisError:
            return False
        return (
            all(
                i.get("cluster_state") == "ok"
                and i.get("cluster_slots_ok") == "16384"
                and i.get("cluster_known_nodes") == str(len(self.nodes))
                and i["master_link_status"] == "up"
                for i in infos
            )
            and sum(i["role"] == "master" for i in infos) == len(self.nodes) // 2
        )

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


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
