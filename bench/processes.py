"""One API process against two (``serve --workers 2``), same deployment, same run:
GET /healthz, holds, and the seat map; throughput, p99 and CPU per request in each
process.

Setup: one fresh deployment (bench.holds.stadium: the demo catalog, the bench stadium
event, a worker, hold TTL 3 s, distinct buyers) served twice at once: ``serve`` (one
process) and ``serve --workers 2`` on another port. Each round runs every scenario on
both servers, in alternating order; the idle server costs next to nothing meanwhile.

Figures per scenario and server, medians over rounds: answered requests/s (holds: 201
and 409 alike; seat map: 200s, gzip, no writes meanwhile), p99 of successful answers in
ms, and CPU µs per answered request in each API process (then Redis, every PostgreSQL
process of the server, and the load generator, which runs in this process). The load
generator shares the machine: on 2 cores, 2 API processes and the client compete for the
same CPUs, so a second process is measured as it does here, not as on a bigger host.

Example: ``.venv/bin/python -m bench.processes --clients 50 --duration 5 --repeat 2``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.holds import EVENT_ID, HoldRequests, hold_bench_env, stadium
from bench.http1 import build_get
from bench.loadgen import LoadResult, RequestSource, run_event_loop, run_load
from bench.machine import cpu_by_pid, pids_named, spawned_children
from bench.sut import Target, add_target_arguments


@dataclass
class Row:
    rates: list[float] = field(default_factory=list)
    p99s: list[float] = field(default_factory=list)
    api_us: list[list[float]] = field(default_factory=list)  # per round, per API process
    others_us: list[dict[str, float]] = field(default_factory=list)


def _measure(
    target: Target, api: list[int], source: RequestSource, args: argparse.Namespace
) -> tuple[LoadResult, list[float], dict[str, float]]:
    """One load run; CPU seconds of each API process and of the other parts over it."""
    groups: dict[str, Callable[[], list[int]]] = {
        "redis": lambda: pids_named("redis-server"),
        "pg": lambda: pids_named("postgres"),  # again each time: pools open backends on demand
    }
    before_api = cpu_by_pid(api)
    before = {k: cpu_by_pid(pids()) for k, pids in groups.items()}
    client0 = time.process_time()
    result = run_event_loop(
        run_load(target.host, target.port, source, args.clients, args.duration, args.warmup)
    )
    after_api = cpu_by_pid(api)
    used = {
        k: sum(cpu - before[k].get(pid, 0.0) for pid, cpu in cpu_by_pid(pids()).items())
        for k, pids in groups.items()
    } | {"client": time.process_time() - client0}
    return result, [after_api.get(pid, 0.0) - before_api.get(pid, 0.0) for pid in api], used


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_target_arguments(parser)
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (50)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per scenario (5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per scenario (1)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds; medians are reported (2)")
    args = parser.parse_args()
    per_run = 40_000
    with stadium(args, hold_bench_env(), per_run * 2 * args.repeat) as (sut, one, tokens):
        two = sut.serve_also("--workers", "2")
        assert one.pid is not None
        assert two.pid is not None
        servers = {"1 process": (one, [one.pid]), "2 processes": (two, spawned_children(two.pid))}
        assert len(servers["2 processes"][1]) == 2, "serve --workers 2 runs two API processes"
        print(f"servers: {one.description}; {two.description}\n")
        rows: dict[tuple[str, str], Row] = {}
        for round_no in range(args.repeat):
            order = list(servers.items()) if round_no % 2 == 0 else list(reversed(servers.items()))
            for scenario in ("healthz", "holds", "seat map"):
                for index, (name, (target, api)) in enumerate(order):
                    source: RequestSource
                    if scenario == "healthz":
                        source = [build_get(target.host, target.port, "/healthz")]
                    elif scenario == "holds":
                        seed = round_no * 2 + index
                        buyers = tokens[seed * per_run : (seed + 1) * per_run]
                        source = HoldRequests(target.host, target.port, buyers, seed, per_run // 2)
                    else:
                        path = f"/events/{EVENT_ID}/seats"
                        source = [build_get(target.host, target.port, path, {"Accept-Encoding": "gzip"})]
                    result, api_cpu, others = _measure(target, api, source, args)
                    wall = args.duration + args.warmup  # CPU is sampled over warm-up and window
                    answered = sum(result.statuses.values()) * wall / args.duration
                    row = rows.setdefault((scenario, name), Row())
                    row.rates.append(sum(result.statuses.values()) / args.duration)
                    row.p99s.append(result.p99_ms)
                    row.api_us.append([1e6 * c / answered for c in api_cpu])
                    row.others_us.append({k: 1e6 * c / answered for k, c in others.items()})
                    refused = result.statuses.get(409, 0) if scenario == "holds" else 0  # seats taken
                    if result.error_count > refused:
                        print(f"  {scenario} on {name}: {result.error_summary()}", file=sys.stderr)
        _print(rows, args)
    return 0


def _print(rows: dict[tuple[str, str], Row], args: argparse.Namespace) -> None:
    med = statistics.median
    print(
        f"{'scenario':<9} {'server':<12} {'req/s':>7} {'ratio':>6} {'p99 ms':>7}  CPU us per answered request"
    )
    for (scenario, name), row in rows.items():
        base = rows[(scenario, "1 process")]
        ratio = med(row.rates) / med(base.rates) if med(base.rates) else 0.0
        per_process = [med(r[i] for r in row.api_us) for i in range(len(row.api_us[0]))]
        api = " + ".join(f"{v:.0f}" for v in per_process)
        api += f" = {sum(per_process):.0f}" if len(per_process) > 1 else ""
        others = "  ".join(f"{k} {med(o[k] for o in row.others_us):.0f}" for k in row.others_us[0])
        print(
            f"{scenario:<9} {name:<12} {med(row.rates):>7.0f} {ratio:>6.2f} {med(row.p99s):>7.1f}"
            f"  api {api}  {others}"
        )
    print(
        f"medians of {args.repeat} rounds, {args.clients} clients, {args.duration:.0f} s each; ratio = req/s"
        " over the 1-process server's in the same scenario; holds count 201 and 409, p99 is of 2xx;"
        " api = each API process's CPU per answered request (the request went to one of them)"
    )


if __name__ == "__main__":
    sys.exit(main())
