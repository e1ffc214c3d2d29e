"""The model checked against reality: run ``bench.simulate`` with the load and the fleet of a
``ticketmaster bench onsale`` run on this machine, and compare what both say.

Contract: read the benchmark's ``report.json`` and the measured costs (``bench/costs.json``);
simulate the same crowd (buyers, seats, pre-queue share, lead, arrivals, polling, choices,
shares, hold TTL, payment latency) on the same fleet (API processes, workers) sharing this
machine's cores, each buyer as ``bench/onsale/buyer.py`` behind the run's connection pool,
with the load generator's own CPU (measured in the run) per request on its one event loop.
Compare sell-out time, holds/s, successful-hold p99 and queue-wait p50/p95; each within 20 %
or not. One simulated sale is one draw of its random choices (a few abandoned holds lapsing
late move the sell-out by many seconds), so the model's figure is the median of ``--seeds``
runs, shown with their range. Prints Markdown (for docs/performance.md); ``--out`` writes it
to a file too.

Usage: ``.venv/bin/python -m bench.validate_model REPORT.json [--costs bench/costs.json]
[--seeds 9] [--out F]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from bench.model import Fleet, Load, load_costs
from bench.onsale.run import ADMISSION_WINDOW_S
from bench.simulate import COSTS, simulate

TOLERANCE = 0.20


def machine_share(report: dict[str, Any]) -> float:
    """The share of its cores the run's processes could get on the shared machine: nproc over
    the load average (the 1-minute one at the start; the run's own processes are in it too),
    at most 1. Every measured cost is a CPU time; on a machine other engineers load, each
    CPU second takes 1 / share seconds of wall time (processor sharing)."""
    for line in report["machine"]:
        if line.startswith("load average at start:"):
            load = float(line.split(":")[1].split()[0])
            return min(1.0, len(os.sched_getaffinity(0)) / max(load, 1e-9))
    return 1.0


def scaled(costs: dict[str, dict[str, float]], share: float) -> dict[str, dict[str, float]]:
    return {name: {c: v / share for c, v in cost.items()} for name, cost in costs.items()}


def model_inputs(report: dict[str, Any]) -> tuple[Load, Fleet]:
    c = report["config"]
    low, _, high = str(c["payment_latency_ms"]).partition(":")
    run_s = max(float(report["run_s"]), 1e-9)
    load = Load(
        buyers=c["buyers"],
        seats=c["seats"],
        prequeue_share=c["prequeue_share"],
        lead_s=c["lead_s"] + 3,  # the harness opens the sale 3 s after its lead (import time)
        arrival_s=c["arrival_s"],
        poll_s=c["poll_s"],
        best_share=c["best_share"] if report["best_available_used"] else 0.0,
        front_bias=c["front_bias"],
        max_retries=c["max_retries"],
        abandon_share=c["abandon_share"],
        decline_share=c["decline_share"],
        think_s=(float(c["think_s"][0]), float(c["think_s"][1])),
        hold_ttl_s=c["hold_ttl_s"],
        admission_window_s=ADMISSION_WINDOW_S,
        payment_ms=(float(low), float(high or low)),
        seed=c["seed"],
        per_buyer=True,  # every buyer as bench/onsale/buyer.py, not the crowd in aggregate
        connections=c.get("connections", 96),  # the harness's client pool (client.py)
    )
    fleet = Fleet(
        api=c["api_processes"],
        workers=c["worker_processes"],
        postgres_cores=2,
        shared_cores=len(os.sched_getaffinity(0)),
        client_cpu=report["cpu_s"].get("client", 0.0) / run_s,
        client_s_per_request=report["cpu_s"].get("client", 0.0) / max(1, sale_requests(report)),
    )
    return load, fleet


SALE_ENDPOINTS = ("queue_join", "queue_status", "seat_map", "hold", "purchase", "purchase_status")


def sale_requests(report: dict[str, Any]) -> int:
    """The run's requests of the sale's endpoints (the buyers' own, which the model makes)."""
    return sum(report["endpoints"].get(e, {}).get("requests", 0) for e in SALE_ENDPOINTS)


def measured(report: dict[str, Any]) -> dict[str, float | None]:
    hold = report["endpoints"].get("hold", {})
    taken = report["all_seats_taken_s"]
    ok = hold.get("statuses", {}).get("201", 0)
    return {
        "sell-out s": report["sell_out_s"],
        "holds/s (201s until every seat was taken)": ok / taken if taken else None,
        "successful-hold p99 ms": hold.get("latency_ms", {}).get("p99"),
        "queue wait p50 s": report["queue_wait_s"]["p50"],
        "queue wait p95 s": report["queue_wait_s"]["p95"],
    }


def modelled(result: dict[str, Any]) -> dict[str, float | None]:
    return {
        "sell-out s": result["sell_out_s"],
        "holds/s (201s until every seat was taken)": result["holds_per_s"],
        "successful-hold p99 ms": result["hold_ms"]["p99"],
        "queue wait p50 s": result["queue_wait_s"]["p50"],
        "queue wait p95 s": result["queue_wait_s"]["p95"],
    }


def median_of_seeds(
    load: Load, fleet: Fleet, costs: dict[str, dict[str, float]], seeds: int
) -> tuple[dict[str, float | None], dict[str, tuple[float, float]], float, list[dict[str, Any]]]:
    """Each figure's median over ``seeds`` simulated sales, its (min, max), the wall time and
    the runs themselves."""
    runs = [simulate(dataclasses.replace(load, seed=load.seed + i), fleet, costs) for i in range(seeds)]
    figures = [modelled(r) for r in runs]
    median: dict[str, float | None] = {}
    spread: dict[str, tuple[float, float]] = {}
    for name in figures[0]:
        values = [v for f in figures if (v := f[name]) is not None]
        median[name] = statistics.median(values) if values else None
        if values:
            spread[name] = (min(values), max(values))
    return median, spread, sum(r["wall_s"] for r in runs), runs


def counters(report: dict[str, Any], runs: list[dict[str, Any]]) -> list[str]:
    """Markdown: the run's per-endpoint requests and p50 latency, and its API and client CPU,
    beside the model's (medians of its runs): where the model's load differs from the harness's."""
    lines = [
        "| counter | measured | model (median) | model / measured | p50 ms measured | p50 ms model |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for e in SALE_ENDPOINTS:
        real = report["endpoints"].get(e, {})
        n = real.get("requests", 0)
        m = statistics.median(r["requests"].get(e, 0) for r in runs)
        # The run's latencies are of 2xx answers (bench/onsale/stats.py): a hold's of its 201s.
        timed = "hold_201" if e == "hold" else e
        p50 = statistics.median(r["latency_p50_ms"].get(timed) or 0.0 for r in runs)
        lines.append(
            f"| {e} requests | {n:,} | {m:,.0f} | {_f(_ratio(m, n), '.2f')} | "
            f"{_f(real.get('latency_ms', {}).get('p50'))} | {p50:.1f} |"
        )
    # A declined payment paid again after its hold's own expiry (bench/onsale/buyer.py's
    # "purchase_409" outcome).
    real_409 = report["outcomes"].get("purchase_409", 0)
    m_409 = statistics.median(r["purchases_409"] for r in runs)
    lines.append(
        f"| purchases answered 409 | {real_409:,} | {m_409:,.0f} | {_f(_ratio(m_409, real_409), '.2f')} | | |"
    )
    for name, key in (("API CPU s", "api"), ("client CPU s", "client")):
        real_s = report["cpu_s"].get(key)
        m = statistics.median(r["busy_s"].get(key, 0.0) for r in runs)
        lines.append(f"| {name} | {_f(real_s)} | {m:.1f} | {_f(_ratio(m, real_s), '.2f')} | | |")
    return lines


def compare(report: dict[str, Any], costs_path: Path, seeds: int = 9) -> tuple[str, bool]:
    """Markdown comparing the run with the model on a free machine and on the machine's share
    (see machine_share); passes when the model on the share is within 20 % on every figure."""
    load, fleet = model_inputs(report)
    share = machine_share(report)
    costs = load_costs(costs_path)
    m_free, spread_free, wall_free, runs = median_of_seeds(load, fleet, costs, seeds)
    if share < 1:
        m_shared, _, wall_shared, _ = median_of_seeds(load, fleet, scaled(costs, share), seeds)
    else:  # the same model: each CPU second takes one second
        m_shared, wall_shared = m_free, 0.0
    real = measured(report)
    lines = [
        f"Model vs measurement: `bench onsale` of {load.buyers:,} buyers for {load.seats:,} seats, "
        f"{fleet.api} API process(es), {fleet.workers} worker(s), on {fleet.shared_cores} shared cores "
        f"(load generator {fleet.client_cpu:.2f} cores); costs from `{costs_path.name}`. Model A: the "
        f"cores free for the run; model B: each CPU second taking {1 / share:.1f} s, the share "
        f"({share:.0%}) the load average at the start left the run. Model figures: medians of "
        f"{seeds} simulated sales (seeds {load.seed}..{load.seed + seeds - 1}), A's range in brackets.",
        "",
        "| figure | measured | model A (range) | A / measured | model B | B / measured | B within 20 % |",
        "| --- | ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    ok_all = True
    for name, value in real.items():
        ra, rb = _ratio(m_free[name], value), _ratio(m_shared[name], value)
        ok = rb is not None and abs(rb - 1) <= TOLERANCE
        ok_all &= ok
        low, high = spread_free.get(name, (None, None))
        lines.append(
            f"| {name} | {_f(value)} | {_f(m_free[name])} ({_f(low)} to {_f(high)}) | {_f(ra, '.2f')} | "
            f"{_f(m_shared[name])} | {_f(rb, '.2f')} | {'yes' if ok else 'NO'} |"
        )
    lines += ["", f"(simulated in {wall_free:.1f} s + {wall_shared:.1f} s)", ""]
    lines += ["Counters (model A):", "", *counters(report, runs)]
    return "\n".join(lines), ok_all


def _ratio(model: float | None, measured: float | None) -> float | None:
    return model / measured if model is not None and measured else None


def _f(v: float | None, fmt: str = ".1f") -> str:
    return "-" if v is None else format(v, fmt)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("report", type=Path, help="report.json of a `ticketmaster bench onsale` run")
    parser.add_argument("--costs", type=Path, default=COSTS, help="measured costs (bench/costs.json)")
    parser.add_argument("--seeds", type=int, default=9, help="simulated sales per model (9)")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    args = parser.parse_args()
    text, ok = compare(json.loads(args.report.read_text()), args.costs, max(1, args.seeds))
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
