"""Failover drill (issue 15): a Redis Cluster primary dies after its replica missed its last
acknowledged holds, the replica is promoted without them, and the service, through its
public API only, keeps every one of those holds: no other buyer gets their seats, new holds
resume by themselves, and ``ticketmaster audit`` passes.

The replica is made to miss the writes as an asynchronous replica does: it is paused
(SIGSTOP) and its replication link cut (``CLIENT KILL TYPE replica`` on the primary), the
holds are made, the primary is SIGKILLed and the replica resumed; it can no longer reach its
primary and is promoted after the cluster node timeout, with the state from before."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import asyncpg
import httpx
import redis

from tests.cluster import local_cluster_run_env, local_clusters
from tests.conftest import ServerProcess
from tests.e2e.buyers import hold, new_buyers
from tests.e2e.test_hold_api import one_event
from tests.fleet import cli, eventually
from ticketmaster.adapters.redis.keys import RedisKeys

NAMESPACE = "tmdrill"


def _pid(port: int) -> int:
    with redis.Redis(port=port, decode_responses=True) as node:
        return int(node.info("server")["process_id"])


def _primary_and_replica(ports: list[int], key: str) -> tuple[int, int]:
    """The ports of the primary serving ``key`` and of its replica."""
    with redis.RedisCluster(host="127.0.0.1", port=ports[0], decode_responses=True) as cluster:
        primary = int(cluster.get_node_from_key(key).port)  # type: ignore[no-untyped-call]
    for port in ports:
        with redis.Redis(port=port, decode_responses=True) as node:
            if int(node.info("replication").get("master_port", 0)) == primary:
                return primary, port
    raise AssertionError(f"no replica of :{primary}")


def _is_primary(port: int) -> bool:
    try:
        with redis.Redis(port=port, socket_timeout=1, decode_responses=True) as node:
            return node.info("replication")["role"] == "master"
    except redis.RedisError:
        return False


async def test_holds_a_promoted_replica_never_received_stay_held(
    server_env: dict[str, str], pool: asyncpg.Pool, tmp_path: Path
) -> None:
    event_id, seats = await one_event(pool)
    env = local_cluster_run_env(server_env, tmp_path, NAMESPACE)
    server = ServerProcess(env, "run", ("--local-cluster",))
    try:
        server.wait_ready(timeout=60)
        [runtime] = local_clusters(tmp_path)
        ports = [int(node["port"]) for node in runtime["nodes"]]
        primary, replica = _primary_and_replica(ports, RedisKeys(NAMESPACE).seats(event_id))
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            buyers = await new_buyers(http, 6)
            assert (await hold(http, buyers[0], event_id, seats[0:2])).status_code == 201
            replica_pid = _pid(replica)
            os.kill(replica_pid, signal.SIGSTOP)
            try:
                with redis.Redis(port=primary) as node:
                    assert node.execute_command("CLIENT", "KILL", "TYPE", "replica") == 1
                lost = [seats[2 + i] for i in range(4)]
                for buyer, seat in zip(buyers[1:5], lost, strict=True):
                    made = await hold(http, buyer, event_id, [seat])
                    assert made.status_code == 201, made.text
                os.kill(_pid(primary), signal.SIGKILL)
                killed_at = time.monotonic()
            finally:
                os.kill(replica_pid, signal.SIGCONT)

            async def promoted() -> bool | None:
                return True if _is_primary(replica) else None

            await eventually(promoted, within=60, what="the replica's promotion")
            other = buyers[5]

            async def answered(seat: str) -> httpx.Response | None:
                response = await hold(http, other, event_id, [seat])
                return None if response.status_code == 503 else response

            # Every seat the promoted replica never heard of is still held for its buyer...
            for seat in [seats[1], *lost]:
                refused = await eventually(lambda seat=seat: answered(seat), within=60, what=f"{seat}")
                assert refused.status_code == 409, refused.text
            # ...and holds on free seats resume by themselves.
            resumed = await eventually(lambda: answered(seats[10]), within=60, what="a new hold")
            assert resumed.status_code == 201, resumed.text
            print(f"kill -> first answer after the promotion: {time.monotonic() - killed_at:.1f} s")
        seed = f"redis://127.0.0.1:{replica}/0"  # the seed the run printed may be the dead node
        cluster_env = {**env, "TICKETMASTER_REDIS_URL": seed, "TICKETMASTER_REDIS_CLUSTER": "true"}
        audit = await cli(cluster_env, "audit")
        assert audit.returncode == 0, audit.stdout + audit.stderr
    finally:
        server.stop()
