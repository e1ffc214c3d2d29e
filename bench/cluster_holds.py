"""Holds on one Redis node vs a local 3-primary Redis Cluster, same multi-event load, same
run: successful holds/s, p50/p99, and CPU µs per answered hold of the API, the worker,
PostgreSQL, this client and each Redis node; then which slot and primary each event of the
demo catalog lands on.

Set-up: two deployments as bench.holds makes them (serve + worker, demo catalog, hold TTL
3 s, a distinct buyer and key per request), each with the same ``--events`` stadium events:
one on ``--redis-url`` (one node), one on a fresh ticketmaster.local_cluster (3 primaries,
3 replicas, ``TICKETMASTER_REDIS_CLUSTER=true``) whose event ids are chosen so the events
spread evenly over the primaries. Clients take the events round robin. Rounds alternate
(one node, cluster, one node, ...); medians are printed. On a 2-core machine this measures
what one API process pays and what each node does per hold, not how a cluster scales:
all nodes share the same two cores with the API.

Example: ``.venv/bin/python -m bench.cluster_holds --duration 6 --repeat 3``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import redis

from bench.hold_cost import cpu_per_answer
from bench.holds import EVENT_ID, HoldRequests, hold_bench_env, hold_rates, stadium
from bench.loadgen import LoadResult
from bench.machine import pids_named
from bench.sut import ServerUnderTest, Target, add_target_arguments, on_sale_event_ids, with_database
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.local_cluster import LocalRedisCluster


def _primary_of(cluster: redis.RedisCluster, event_id: str) -> int:
    """The port of the primary serving ``event_id``'s hash slot."""
    return int(cluster.get_node_from_key(RedisKeys("x").seats(event_id)).port)  # type: ignore[no-untyped-call]


def spread_event_ids(cluster: redis.RedisCluster, count: int) -> list[str]:
    """``count`` bench event ids, as evenly spread over the cluster's primaries as can be."""
    primaries = len(cluster.get_primaries())  # type: ignore[no-untyped-call]
    per_node: dict[int, list[str]] = {}
    n = 0
    while sum(len(v) for v in per_node.values()) < count:
        event_id = f"{EVENT_ID}_{n}"
        n += 1
        ids = per_node.setdefault(_primary_of(cluster, event_id), [])
        if len(ids) < -(-count // primaries):
            ids.append(event_id)
    # Interleaved by node, so round-robin clients alternate primaries.
    columns = list(per_node.values())
    return [c[i] for i in range(max(map(len, columns))) for c in columns if i < len(c)][:count]


def _redis_pid(url: str) -> int:
    with redis.Redis.from_url(url) as client:
        return int(client.info("server")["process_id"])


def _round_robin(sources: list[HoldRequests]) -> Callable[[int, int], bytes]:
    return lambda client_id, seq: sources[(client_id + seq) % len(sources)](client_id, seq)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_target_arguments(parser)
    parser.add_argument("--events", type=int, default=6, help="stadium events held on (6: 2 per primary)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (50)")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds measured per run (6)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per run (1)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds, each one node then cluster (3)")
    parser.add_argument("--buyers", type=int, default=40_000, help="buyers per deployment (40000)")
    args = parser.parse_args()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tm-cluster-bench-")))
        cluster = LocalRedisCluster(tmp / "cluster")
        cluster.start()
        stack.callback(cluster.stop)
        client = stack.enter_context(redis.RedisCluster.from_url(cluster.url))
        event_ids = spread_event_ids(client, args.events)
        roles = {n.process.pid: n.cluster_info()["role"] for n in cluster.nodes if n.process is not None}
        nodes = {n.process.pid: n.port for n in cluster.nodes if n.process is not None}

        single_sut, single, single_tokens = stack.enter_context(
            stadium(args, hold_bench_env(), args.buyers, event_ids)
        )
        cluster_args = argparse.Namespace(**{**vars(args), "redis_url": cluster.url})
        cluster_env = {**hold_bench_env(), "TICKETMASTER_REDIS_CLUSTER": "true"}
        cluster_sut, clustered, cluster_tokens = stack.enter_context(
            stadium(cluster_args, cluster_env, args.buyers, event_ids)
        )
        single_redis = _redis_pid(args.redis_url)

        def groups(
            sut: ServerUnderTest, target: Target, redis_pids: dict[str, int]
        ) -> dict[str, Callable[[], list[int]]]:
            assert target.pid is not None
            assert sut.worker is not None
            api, worker = target.pid, sut.worker.pid
            found: dict[str, Callable[[], list[int]]] = {"api": lambda: [api], "worker": lambda: [worker]}
            found["pg"] = lambda: pids_named("postgres")
            for name, pid in redis_pids.items():
                found[name] = lambda pid=pid: [pid]  # type: ignore[misc]
            return found

        cluster_names = {
            f"{'primary' if roles[pid] == 'master' else 'replica'} :{port}": pid
            for pid, port in nodes.items()
        }
        setups = {
            "one node": (single, single_tokens, groups(single_sut, single, {"redis": single_redis})),
            "cluster": (
                clustered,
                cluster_tokens,
                groups(cluster_sut, clustered, dict(sorted(cluster_names.items()))),
            ),
        }
        print(f"one node: {single.description}\ncluster: {clustered.description}")
        print(f"events held on: {', '.join(f'{e} (primary :{_primary_of(client, e)})' for e in event_ids)}\n")
        rows: dict[str, list[tuple[LoadResult, dict[str, float]]]] = {name: [] for name in setups}
        for round_no in range(args.repeat):
            for name, (target, tokens, procs) in setups.items():
                sources = [
                    HoldRequests(
                        target.host,
                        target.port,
                        tokens[i :: len(event_ids)],
                        round_no * 100 + i,
                        prebuilt=len(tokens) // len(event_ids),
                        event_id=event_id,
                    )
                    for i, event_id in enumerate(event_ids)
                ]
                result, costs = cpu_per_answer(target, _round_robin(sources), procs, args)
                rows[name].append((result, costs))
                created, _, other = hold_rates(result)
                print(
                    f"round {round_no + 1} {name:<8} {created:6.0f} holds/s p99 {result.p99_ms:6.1f} ms  "
                    + "  ".join(f"{k} {v:.0f}" for k, v in costs.items())
                    + (f"  other {other}" if other else ""),
                    flush=True,
                )
        print(f"\nmedians of {args.repeat} rounds, {args.clients} clients, {len(event_ids)} events:")
        print("CPU µs per answered hold (201 + 409) by process; holds/s counts 201s; latency of 201s")
        for name, values in rows.items():
            created = statistics.median(hold_rates(r)[0] for r, _ in values)
            conflicts = statistics.median(hold_rates(r)[1] for r, _ in values)
            p50 = statistics.median(r.p50_ms for r, _ in values)
            p99 = statistics.median(r.p99_ms for r, _ in values)
            costs = {k: statistics.median(c[k] for _, c in values) for k in values[0][1]}
            print(
                f"{name:<8} {created:6.0f} holds/s  {conflicts:5.0f} 409/s"
                + f"  p50 {p50:5.1f} ms  p99 {p99:6.1f} ms  "
                + "  ".join(f"{k} {v:.0f}" for k, v in costs.items())
            )
        upcoming = on_sale_event_ids(with_database(cluster_sut.server_url, cluster_sut.database_name), 1e9)
        demo = sorted(e for e in upcoming if e not in event_ids)
        by_node = Counter(_primary_of(client, e) for e in demo)
        slots = {client.keyslot(RedisKeys("x").seats(e)) for e in demo}
        print(
            f"\ndemo catalog: {len(demo)} upcoming events in {len(slots)} slots over {len(by_node)} primaries"
        )
        print("  per primary: " + ", ".join(f":{port} {n}" for port, n in sorted(by_node.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
