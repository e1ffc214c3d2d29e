"""Where a hold's CPU goes: microseconds of CPU per request in each process (API, worker,
Redis, PostgreSQL, the load generator) for ``GET /healthz`` and for holds, same server,
same run.

Throughput on a shared 2-core machine swings by ±10 % between runs; CPU per request
moves far less, so this is the figure to compare two versions of the hold path (A/B:
run it on each, alternately). Set-up as bench.holds (fresh deployment with its worker,
the stadium event, a distinct buyer and key per request, hold TTL 3 s).

Example: ``.venv/bin/python -m bench.hold_cost --clients 50 --duration 6 --repeat 2``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.holds import HoldRequests, hold_bench_env, stadium_deployment
from bench.http1 import build_get
from bench.loadgen import LoadResult, RequestSource, run_event_loop, run_load
from bench.machine import cpu_by_pid, pids_named
from bench.sut import Target, add_target_arguments


def _is_our_worker(pid: int) -> bool:
    """The ``ticketmaster worker`` this benchmark started (its child, by command line)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return False
    return parent == os.getpid() and b"worker" in argv


def cpu_per_answer(
    target: Target,
    source: RequestSource,
    groups: dict[str, Callable[[], list[int]]],
    args: argparse.Namespace,
) -> tuple[LoadResult, dict[str, float]]:
    """One closed-loop run of ``args.clients`` clients, and the CPU µs per answered request
    of each process group (``groups``: name -> its current pids) and of this client."""
    before = {k: cpu_by_pid(pids()) for k, pids in groups.items()}
    client0 = time.process_time()
    result = run_event_loop(
        run_load(target.host, target.port, source, args.clients, args.duration, args.warmup)
    )
    used = {  # a process started meanwhile counts from zero
        k: sum(cpu - before[k].get(pid, 0.0) for pid, cpu in cpu_by_pid(pids()).items())
        for k, pids in groups.items()
    } | {"client": time.process_time() - client0}
    wall = args.duration + args.warmup  # CPU is sampled over warm-up and window
    answered = sum(result.statuses.values()) * wall / args.duration
    return result, {k: 1e6 * u / answered if answered else 0.0 for k, u in used.items()}


def cpu_bench_parser(description: str | None, repeat: int) -> argparse.ArgumentParser:
    """The arguments of a CPU-per-answer benchmark: a deployment of its own, then clients,
    duration, warm-up and rounds (``repeat`` by default)."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_target_arguments(parser)
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (50)")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds measured per scenario (6)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per scenario (1)")
    parser.add_argument("--repeat", type=int, default=repeat, help=f"rounds ({repeat})")
    return parser


def main() -> int:
    args = cpu_bench_parser(__doc__, repeat=2).parse_args()
    per_round = 60_000
    with stadium_deployment(args, hold_bench_env(), per_round) as (target, tokens):
        assert target.pid is not None
        api = target.pid
        groups: dict[str, Callable[[], list[int]]] = {
            "api": lambda: [api],
            "worker": lambda: [p for p in pids_named("python") if _is_our_worker(p)],
            "redis": lambda: pids_named("redis-server"),
            "pg": lambda: pids_named("postgres"),  # again each time: the pools open backends on demand
        }
        print(f"server: {target.description}\n")
        print("CPU per answered request, us (share of one core) per process")
        healthz = build_get(target.host, target.port, "/healthz")
        for round_no in range(args.repeat):
            sources: list[tuple[str, RequestSource]] = [
                ("healthz", [healthz]),
                ("holds", HoldRequests(target.host, target.port, tokens, round_no, per_round)),
            ]
            for name, source in sources:
                result, costs_us = cpu_per_answer(target, source, groups, args)
                rate = sum(result.statuses.values()) / args.duration
                costs = "  ".join(
                    f"{k} {us:5.0f} ({100 * us * rate / 1e6:3.0f}%)" for k, us in costs_us.items()
                )
                print(f"{name:<8} {rate:7.0f}/s  {costs}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
