"""``ticketmaster simulate``: a discrete-event model (SimPy) of an on-sale, whose service times
are the per-request costs the benchmarks measured (``bench/costs.json``, written by
``python -m bench.onsale.costs``), to size the fleet for a crowd this machine cannot run.

The model, in the order a buyer meets it (the same crowd as ``bench onsale``: arrivals from
:mod:`bench.onsale.arrivals`, the same client behaviour):

- *Arrivals and the queue*: buyers arrive before the opening (a share, shuffled among
  themselves at the opening) and after it (a burst with a tail), and join (one join request
  each). A waiter leaves after an exponential patience (``--queue-patience``, 0 = never),
  and every waiter leaves at sell-out. Waiters poll their status every
  clamp(estimated wait / 3, poll, 15 s): that load is computed in aggregate each 0.1 s
  rather than as a million processes.
- *Admission*: every tick (0.25 s) the counter moves over at most rate x elapsed waiters,
  never past the cap of admissions younger than the window (the hold TTL), passing over
  waiters who left. Each admitted buyer becomes a process.
- *Shopping*: it notices its admission at its next poll, reads the map, thinks, holds
  (best available: the gate picks; else front-biased seats from the map it read, so a
  seat taken meanwhile is a 409, then other seats up to k times), then abandons (its seats
  come back after the hold TTL) or pays: purchase request, a worker slot for the worker's
  CPU and the provider's latency, a share declined first then paid again, and a status
  poll every 0.3 s until settled. Sold = the worker committed the booking. A purchase that
  reaches the server after its hold lapsed (behind a saturated connection pool, or a retry
  after a late decline) is refused, and the seats were free from the lapse on.
- *Service*: every request runs as its steps on an API process's event loop
  (``bench.model.STEPS``, from the server's code): a CPU step, a wait for Redis CPU on the
  event's shard (one event is one hash slot: one shard however many there are) or for
  PostgreSQL CPU on its cores (a hold's row through the group commit), the next step queued
  behind the runnable ones, each a queue (SimPy Resource); with ``--cores K``
  (one machine, as the benchmark ran) every CPU demand also needs one of K shared cores,
  beside a background load for the load generator's own CPU. What the server answers (a
  poll's admission, a join's place, the map a read returns, a hold's seats, whether a
  purchase's hold is still active) is decided from the model's state when the request
  reaches that step, not when the buyer asked: behind a saturated pool that is seconds apart.

Outputs: sell-out time, holds/s, hold and seat-map latency percentiles, queue waits,
admitted concurrency, per-component utilisation (busy CPU / capacity over the sale and
in its busiest second), and, with ``--size-fleet``, the smallest fleet whose busiest second
stays under ``--headroom`` (0.7) on every component and whose hold p99 < 50 ms and seat-map
p99 < 200 ms (SPEC §5), found from the demand of one run and checked by a second.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from bench.model import COMPONENTS, Fleet, Load, Model, Outcome, load_costs

COSTS = Path(__file__).resolve().parent / "costs.json"


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


def summary(out: Outcome, fleet: Fleet, load: Load) -> dict[str, Any]:
    span = max(out.end_s, 1e-9)
    capacity = {"api": fleet.api, "redis": 1, "postgres": fleet.postgres_cores, "worker": fleet.workers}
    util = {c: out.busy[c] / (capacity[c] * span) for c in COMPONENTS}
    peak = {c: max(out.busy_per_s[c].values(), default=0.0) / capacity[c] for c in COMPONENTS}
    waits = out.waits
    return {
        "fleet": asdict(fleet),
        "sell_out_s": out.sell_out_s,
        "all_seats_taken_s": out.all_taken_s,
        "holds_per_s": out.holds_ok / out.all_taken_s if out.all_taken_s else out.holds_ok / span,
        "holds_ok": out.holds_ok,
        "holds_409": out.holds_409,
        "purchases_409": out.purchase_409,
        "hold_ms": {
            p: _pct(out.latency_ms["hold_201"], q) for p, q in (("p50", 50), ("p95", 95), ("p99", 99))
        },
        "seat_map_ms": {
            p: _pct(out.latency_ms["seat_map"], q) for p, q in (("p50", 50), ("p95", 95), ("p99", 99))
        },
        "queue_wait_s": {p: _pct(waits, q) for p, q in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))},
        "admitted": out.admitted,
        "left_queue_before_admission": out.left_queue,
        "never_admitted": load.buyers - out.admitted - out.left_queue,
        "max_shopping_at_once": out.max_admitted_at_once,
        "utilisation": util,
        "busiest_second": peak,
        "requests": dict(out.requests),
        "latency_p50_ms": {e: _pct(v, 50) for e, v in out.latency_ms.items()},
        "connection_wait_p50_ms": {e: (_pct(v, 50) or 0.0) * 1000 for e, v in out.slot_waits.items()},
        "busy_s": dict(out.busy),
    }


def simulate(load: Load, fleet: Fleet, costs: dict[str, dict[str, float]]) -> dict[str, Any]:
    started = time.monotonic()
    result = summary(Model(load, fleet, costs).run(), fleet, load)
    result["wall_s"] = time.monotonic() - started
    return result


def meets_slos(r: dict[str, Any], headroom: float) -> bool:
    return (
        all(v <= headroom for v in r["busiest_second"].values())
        and (r["hold_ms"]["p99"] or 0) < 50
        and (r["seat_map_ms"]["p99"] or 0) < 200
    )


def size_fleet(load: Load, costs: dict[str, dict[str, float]], headroom: float) -> dict[str, Any]:
    """The smallest fleet: one run on an ample fleet gives each component's busiest-second
    demand; each gets ceil(demand / headroom) units; a run of that fleet checks the SLOs
    (doubling the API processes and PostgreSQL cores while it misses them, twice at most)."""
    ample = Fleet(api=4096, postgres_cores=512, workers=64)
    probe = simulate(load, ample, costs)
    demand = {
        c: probe["busiest_second"][c] * cap
        for c, cap in (("api", 4096), ("postgres", 512), ("worker", 64), ("redis", 1))
    }
    fleet = Fleet(
        api=max(1, math.ceil(demand["api"] / headroom)),
        postgres_cores=max(2, math.ceil(demand["postgres"] / headroom)),
        workers=max(1, math.ceil(demand["worker"] / headroom)),
    )
    checks = []
    for attempt in range(3):
        if attempt:
            fleet = replace(fleet, api=fleet.api * 2, postgres_cores=fleet.postgres_cores * 2)
        result = simulate(load, fleet, costs)
        checks.append(result)
        if meets_slos(result, headroom):
            break
    return {
        "demand_cores": demand,
        "fleet": asdict(fleet),  # the fleet of the last check
        "check": checks[-1],
        "meets_slos": meets_slos(checks[-1], headroom),
        "redis_shard_busiest_second": probe["busiest_second"]["redis"],
    }


def _pair(raw: str) -> tuple[float, float]:
    low, _, high = raw.partition(":")
    return float(low), float(high or low)


def add_arguments(p: argparse.ArgumentParser) -> None:
    d, f = Load(), Fleet()
    p.add_argument("--buyers", type=int, default=d.buyers, help=f"({d.buyers})")
    p.add_argument("--seats", type=int, default=d.seats, help=f"({d.seats})")
    p.add_argument("--costs", type=Path, default=COSTS, help="measured per-request costs (bench/costs.json)")
    p.add_argument("--prequeue-share", type=float, default=d.prequeue_share, help=f"({d.prequeue_share})")
    p.add_argument("--lead", dest="lead_s", type=float, default=d.lead_s, help=f"s of pre-queue ({d.lead_s})")
    p.add_argument(
        "--arrival", dest="arrival_s", type=float, default=d.arrival_s, help=f"s of arrivals ({d.arrival_s})"
    )
    p.add_argument("--poll", dest="poll_s", type=float, default=d.poll_s, help=f"status poll s ({d.poll_s})")
    p.add_argument(
        "--queue-patience",
        dest="queue_patience_s",
        type=float,
        default=d.queue_patience_s,
        help="mean s a waiter stays (0 = until sold out)",
    )
    p.add_argument("--abandon-share", type=float, default=d.abandon_share, help=f"({d.abandon_share})")
    p.add_argument("--decline-share", type=float, default=d.decline_share, help=f"({d.decline_share})")
    p.add_argument("--best-share", type=float, default=d.best_share, help=f"({d.best_share})")
    p.add_argument(
        "--hold-ttl", dest="hold_ttl_s", type=float, default=d.hold_ttl_s, help=f"({d.hold_ttl_s:.0f})"
    )
    p.add_argument(
        "--payment-latency", dest="payment_ms", type=_pair, default=d.payment_ms, help="ms MIN:MAX (100:1000)"
    )
    p.add_argument("--admission-per-min", type=float, default=None, help="(10 x seats)")
    p.add_argument("--max-admitted", type=int, default=None, help="(min(2 x seats, 10000))")
    p.add_argument("--api", type=int, default=f.api, help=f"API processes of the fleet ({f.api})")
    p.add_argument("--postgres-cores", type=int, default=f.postgres_cores, help=f"({f.postgres_cores})")
    p.add_argument("--workers", type=int, default=f.workers, help=f"worker processes ({f.workers})")
    p.add_argument("--cores", type=int, default=None, help="all on one machine of this many cores")
    p.add_argument("--size-fleet", action="store_true", help="also find the smallest fleet meeting the SLOs")
    p.add_argument("--headroom", type=float, default=0.7, help="busiest-second utilisation allowed (0.7)")
    p.add_argument("--seed", type=int, default=d.seed, help=f"({d.seed})")
    p.add_argument("--json", type=Path, help="write the results here too")


def main_from_args(args: argparse.Namespace) -> int:
    load_fields = {f for f in Load.__dataclass_fields__}
    load = Load(**{k: v for k, v in vars(args).items() if k in load_fields})
    fleet = Fleet(
        api=args.api, postgres_cores=args.postgres_cores, workers=args.workers, shared_cores=args.cores
    )
    costs = load_costs(args.costs)
    result: dict[str, Any] = {
        "load": asdict(load),
        "costs_from": str(args.costs),
        "run": simulate(load, fleet, costs),
    }
    if args.size_fleet:
        result["sizing"] = size_fleet(load, costs, args.headroom)
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


def _f(v: Any, fmt: str = ".1f") -> str:
    return "-" if v is None else format(v, fmt)


def render(result: dict[str, Any]) -> str:
    def block(title: str, r: dict[str, Any]) -> list[str]:
        fl = r["fleet"]
        return [
            f"{title}: API {fl['api']}, Redis 1 shard for the event, "
            f"PostgreSQL {fl['postgres_cores']} cores, "
            f"workers {fl['workers']}"
            + (f", all on {fl['shared_cores']} shared cores" if fl["shared_cores"] else ""),
            f"  sell-out {_f(r['sell_out_s'])} s (all seats taken {_f(r['all_seats_taken_s'])} s), "
            f"{_f(r['holds_per_s'], '.0f')} holds/s, "
            f"hold p50/p99 {_f(r['hold_ms']['p50'])}/{_f(r['hold_ms']['p99'])} ms, "
            f"seat map p99 {_f(r['seat_map_ms']['p99'])} ms",
            f"  queue wait of the {r['admitted']:,} admitted: p50 {_f(r['queue_wait_s']['p50'])} s, "
            f"p95 {_f(r['queue_wait_s']['p95'])} s, p99 {_f(r['queue_wait_s']['p99'])} s; never admitted "
            f"{r['never_admitted']:,}, left the queue {r['left_queue_before_admission']:,}; "
            f"at most {r['max_shopping_at_once']:,} shopping at once",
            "  utilisation (sale / busiest second): "
            + ", ".join(f"{c} {r['utilisation'][c]:.0%}/{r['busiest_second'][c]:.0%}" for c in COMPONENTS),
            f"  (simulated in {r['wall_s']:.1f} s)",
        ]

    ld = result["load"]
    lines = [f"on-sale of {ld['buyers']:,} buyers for {ld['seats']:,} seats (costs: {result['costs_from']})"]
    lines += block("given fleet", result["run"])
    if "sizing" in result:
        s = result["sizing"]
        lines.append(
            "busiest-second demand (cores): "
            + ", ".join(f"{c} {v:.2f}" for c, v in s["demand_cores"].items())
        )
        lines += block(
            "smallest fleet" + (" meeting the SLOs" if s["meets_slos"] else " tried (SLOs NOT met)"),
            s["check"],
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    return main_from_args(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
