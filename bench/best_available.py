"""Best-available holds beside specific-seat holds: holds/s, latency and 409s through the
full HTTP stack on the 52,000-seat stadium, both measured in the same run (and
GET /healthz as the baseline), alternating within each round.

Setup as bench.holds (a fresh deployment with its worker, the bench event at the demo
stadium, a hold TTL of ``--hold-ttl`` seconds so seats recycle, distinct buyers and
Idempotency-Keys). Specific holds ask for 1-4 random contiguous seats (409 when one is
taken); best-available holds for ``{"best": {"count": 1..4}}``, so every request competes
for the best rows and the gate finds the next best block each time.

Example: ``.venv/bin/python -m bench.best_available --duration 6 --repeat 3``
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys

from bench.holds import HoldRequests, hold_bench_env, hold_rates, stadium_deployment
from bench.http1 import build_get
from bench.loadgen import run_event_loop, run_load
from bench.sut import add_target_arguments


def _best(rng: random.Random) -> dict[str, object]:
    return {"best": {"count": rng.randint(1, 4)}}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_target_arguments(parser)
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (50)")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds measured per scenario (6)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per scenario (1)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported (3)")
    parser.add_argument("--hold-ttl", type=int, default=3, help="hold TTL of the deployment, s (3)")
    args = parser.parse_args()
    buyers = int(args.clients * 40 * args.duration * 2)
    with stadium_deployment(args, hold_bench_env(args.hold_ttl), buyers) as (target, tokens):
        print(f"server: {target.description}; hold TTL {args.hold_ttl}s; {args.clients} clients")
        healthz = build_get(target.host, target.port, "/healthz")
        half = len(tokens) // 2
        rows: dict[str, list[tuple[float, float, float, float, float]]] = {}
        ratios: list[float] = []
        for round_no in range(args.repeat):
            base = run_event_loop(
                run_load(target.host, target.port, [healthz], args.clients, args.duration, args.warmup)
            )
            rows.setdefault("GET /healthz", []).append((base.rps, 0.0, base.p50_ms, base.p99_ms, 0.0))
            got: dict[str, float] = {}
            for name, pool, body in (
                ("specific seats", tokens[:half], None),
                ("best available", tokens[half:], _best),
            ):
                requests = HoldRequests(target.host, target.port, pool, 7 * round_no + len(name), body=body)
                result = run_event_loop(
                    run_load(target.host, target.port, requests, args.clients, args.duration, args.warmup)
                )
                created, conflicts, other = hold_rates(result)
                if other and round_no == 0:
                    print(f"  {name}: {result.statuses} {result.errors}", file=sys.stderr)
                rows.setdefault(name, []).append((created, conflicts, result.p50_ms, result.p99_ms, other))
                got[name] = created
            ratios.append(got["best available"] / got["specific seats"] if got["specific seats"] else 0.0)
        print(f"\n{'scenario':<16} {'2xx/s':>8} {'409/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        for name, values in rows.items():
            med = [statistics.median(v[i] for v in values) for i in range(5)]
            print(f"{name:<16} {med[0]:>8.0f} {med[1]:>8.0f} {med[2]:>8.1f} {med[3]:>8.1f} {med[4]:>7.0f}")
        print(
            "best available / specific seats, successful holds/s per round: "
            + ", ".join(f"{r:.2f}" for r in ratios)
            + f" (median {statistics.median(ratios):.2f})"
        )
        print(
            "medians over rounds; latency percentiles are of 2xx responses;"
            " targets: ratio >= 0.8, p99 < 50 ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
