"""The model checked against reality: run ``bench.simulate`` with the load and the fleet of a
``ticketmaster bench onsale`` run on this machine, and compare what both say.

Contract: read the benchmark's ``report.json`` and the measured costs (``bench/costs.json``);
simulate the same crowd (buyers, seats, pre-queue share, lead, arrivals, polling, choices,
shares, hold TTL, payment latency) on the same fleet (API processes, workers) sharing this
machine's cores, each buyer as ``bench/onsale/buyer.py`` behind the run's connection pool,
with the load generator's own CPU (measured in the run) per request on its one event loop.
Compare sell-out time, holds/s, successful-hold p99 and queue-wait p50/p95; each within 20 %
or not. One sale, simulated or measured, is one draw of its random choices (a few abandoned
holds lapsing late move the sell-out by many seconds; a sale that outlasts the admission
window admits its second crowd a window later), so the model's figure is the median of
``--seeds`` runs and the measured one the median of the REPORTs given (runs of one command),
each shown with its range. The costs must be measured on the machine of the runs, the same
day (``python -m bench.onsale.costs``): a note says when their CPU differs from the runs'.
Prints Markdown (for docs/performance.md); ``--out`` writes it to a file too.

Usage: ``.venv/bin/python -m bench.validate_model REPORT.json [REPORT.json ...] [--costs
bench/costs.json] [--seeds 9] [--out F]``
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
from bench.onsale.stack import DB_POOL_SIZE
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


# Settings that differ between runs of one command without changing the sale.
PER_RUN_SETTINGS = ("out", "progress", "plots")


def same_sale(reports: list[dict[str, Any]]) -> None:
    """Raise ValueError unless every report is a run of the same sale (config and venue)."""

    def sale(r: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in r["config"].items() if k not in PER_RUN_SETTINGS}

    first = sale(reports[0])
    for r in reports[1:]:
        if sale(r) != first or r["best_available_used"] != reports[0]["best_available_used"]:
            diff = sorted(k for k in first.keys() | sale(r).keys() if first.get(k) != sale(r).get(k))
            raise ValueError(
                f"the reports are not runs of one command (they differ in {diff or 'best available'})"
            )


def model_inputs(reports: list[dict[str, Any]]) -> tuple[Load, Fleet]:
    """The load and fleet of the runs (one command): the load generator's CPU is theirs in
    all, per second of sale and per request."""
    report = reports[0]
    c = report["config"]
    low, _, high = str(c["payment_latency_ms"]).partition(":")
    run_s = max(sum(float(r["run_s"]) for r in reports), 1e-9)
    client_s = sum(r["cpu_s"].get("client", 0.0) for r in reports)
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
        db_pool=DB_POOL_SIZE,  # the harness's stack's (bench/onsale/stack.py)
        shared_cores=len(os.sched_getaffinity(0)),
        client_cpu=client_s / run_s,
        client_s_per_request=client_s / max(1, sum(sale_requests(r) for r in reports)),
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


def median_of_runs(
    reports: list[dict[str, Any]],
) -> tuple[dict[str, float | None], dict[str, tuple[float, float]]]:
    """Each measured figure's median over the runs and its (min, max)."""
    return _median_and_range([measured(r) for r in reports])


def _median_and_range(
    figures: list[dict[str, float | None]],
) -> tuple[dict[str, float | None], dict[str, tuple[float, float]]]:
    median = {name: _median_known([f[name] for f in figures]) for name in figures[0]}
    spread: dict[str, tuple[float, float]] = {}
    for name in figures[0]:
        values = [v for f in figures if (v := f[name]) is not None]
        if values:
            spread[name] = (min(values), max(values))
    return median, spread


def _median_known(values: list[float | None]) -> float | None:
    """The median of the values that are known (None when none is)."""
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def median_of_seeds(
    load: Load, fleet: Fleet, costs: dict[str, dict[str, float]], seeds: int
) -> tuple[dict[str, float | None], dict[str, tuple[float, float]], float, list[dict[str, Any]]]:
    """Each figure's median over ``seeds`` simulated sales, its (min, max), the wall time and
    the runs themselves."""
    runs = [simulate(dataclasses.replace(load, seed=load.seed + i), fleet, costs) for i in range(seeds)]
    median, spread = _median_and_range([modelled(r) for r in runs])
    return median, spread, sum(r["wall_s"] for r in runs), runs


def counters(reports: list[dict[str, Any]], runs: list[dict[str, Any]]) -> list[str]:
    """Markdown: the runs' per-endpoint requests and p50 latency, and their API and client CPU
    (medians over the runs), beside the model's (medians of its sales): where the model's load
    differs from the harness's."""
    lines = [
        "| counter | measured | model (median) | model / measured | p50 ms measured | p50 ms model "
        "| connection wait p50 ms measured | model |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    for e in SALE_ENDPOINTS:
        n = _median_known([r["endpoints"].get(e, {}).get("requests", 0) for r in reports]) or 0
        p50_real = _median_known(
            [r["endpoints"].get(e, {}).get("latency_ms", {}).get("p50") for r in reports]
        )
        m = statistics.median(r["requests"].get(e, 0) for r in runs)
        wait_real = _median_known([r.get("connection_wait_ms", {}).get(e, {}).get("p50") for r in reports])
        wait_model = statistics.median(r["connection_wait_p50_ms"].get(e, 0.0) for r in runs)
        # The run's latencies are of 2xx answers (bench/onsale/stats.py): a hold's of its 201s.
        timed = "hold_201" if e == "hold" else e
        p50 = statistics.median(r["latency_p50_ms"].get(timed) or 0.0 for r in runs)
        lines.append(
            f"| {e} requests | {n:,} | {m:,.0f} | {_f(_ratio(m, n), '.2f')} | {_f(p50_real)} | {p50:.1f} "
            f"| {_f(wait_real)} | {wait_model:.1f} |"
        )
    # A purchase answered after its hold's own expiry (bench/onsale/buyer.py's "purchase_409"
    # outcome): a declined payment's retry, or a first one that waited that long for a connection.
    real_409 = _median_known([r["outcomes"].get("purchase_409", 0) for r in reports]) or 0
    m_409 = statistics.median(r["purchases_409"] for r in runs)
    lines.append(
        f"| purchases answered 409 | {real_409:,} | {m_409:,.0f} | "
        f"{_f(_ratio(m_409, real_409), '.2f')} | | | | |"
    )
    for name, key in (("API CPU s", "api"), ("client CPU s", "client")):
        real_s = _median_known([r["cpu_s"].get(key) for r in reports])
        m = statistics.median(r["busy_s"].get(key, 0.0) for r in runs)
        lines.append(f"| {name} | {_f(real_s)} | {m:.1f} | {_f(_ratio(m, real_s), '.2f')} | | | | |")
    return lines


def cpu_of(machine_lines: list[str]) -> str:
    """The CPU model a report's (or costs.json's) machine lines name."""
    for line in machine_lines:
        if "CPU '" in line:
            return line.split("CPU '")[1].split("'")[0]
    return "unknown"


def compare(
    reports: list[dict[str, Any]], costs_path: Path, seeds: int = 9, *, quiet: bool = False
) -> tuple[str, bool]:
    """Markdown comparing the runs with the model on a free machine and on the machine's share
    (see machine_share); passes when the model on the share is within 20 % of the runs' median
    on every figure. ``quiet``: nothing but the runs used the machine, so the share is 1 (runs
    back to back find the last one's load in the load average at their start)."""
    same_sale(reports)
    load, fleet = model_inputs(reports)
    share = 1.0 if quiet else statistics.median(machine_share(r) for r in reports)
    costs = load_costs(costs_path)
    m_free, spread_free, wall_free, runs = median_of_seeds(load, fleet, costs, seeds)
    if share < 1:
        m_shared, _, wall_shared, _ = median_of_seeds(load, fleet, scaled(costs, share), seeds)
    else:  # the same model: each CPU second takes one second
        m_shared, wall_shared = m_free, 0.0
    real, spread_real = median_of_runs(reports)
    n = len(reports)
    lines = [
        f"Model vs measurement: {n} run(s) of `bench onsale` of {load.buyers:,} buyers for "
        f"{load.seats:,} seats, {fleet.api} API process(es), {fleet.workers} worker(s), on "
        f"{fleet.shared_cores} shared cores (load generator {fleet.client_cpu:.2f} cores); costs "
        f"from `{costs_path.name}`. Model A: the cores free for the run; model B: each CPU second "
        f"taking {1 / share:.1f} s, the share ({share:.0%}) the load average at the start left the "
        f"run; B ok: within 20 %. Figures: medians of the runs and of {seeds} simulated sales (seeds "
        f"{load.seed}..{load.seed + seeds - 1}), ranges in brackets.",
    ]
    costs_cpu = cpu_of(json.loads(costs_path.read_text()).get("machine", []))
    runs_cpu = {cpu_of(r["machine"]) for r in reports}
    if runs_cpu != {costs_cpu}:
        lines += [
            "",
            f"**The costs were measured on another CPU ({costs_cpu}) than the runs "
            f"({', '.join(sorted(runs_cpu))}): measure them on the runs' machine.**",
        ]
    lines += [
        "",
        "| figure | measured (range) | model A (range) | A / measured | model B | B / measured | B ok |",
        "| --- | ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    ok_all = True
    for name, value in real.items():
        ra, rb = _ratio(m_free[name], value), _ratio(m_shared[name], value)
        ok = rb is not None and abs(rb - 1) <= TOLERANCE
        ok_all &= ok
        low, high = spread_free.get(name, (None, None))
        r_low, r_high = spread_real.get(name, (None, None))
        lines.append(
            f"| {name} | {_f(value)} ({_f(r_low)} to {_f(r_high)}) | {_f(m_free[name])} "
            f"({_f(low)} to {_f(high)}) | {_f(ra, '.2f')} | {_f(m_shared[name])} | {_f(rb, '.2f')} | "
            f"{'yes' if ok else 'NO'} |"
        )
    lines += ["", f"(simulated in {wall_free:.1f} s + {wall_shared:.1f} s)", ""]
    lines += ["Counters (model A):", "", *counters(reports, runs)]
    return "\n".join(lines), ok_all


def _ratio(model: float | None, measured: float | None) -> float | None:
    return model / measured if model is not None and measured else None


def _f(v: float | None, fmt: str = ".1f") -> str:
    return "-" if v is None else format(v, fmt)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "reports",
        type=Path,
        nargs="+",
        metavar="REPORT",
        help="report.json of `ticketmaster bench onsale` runs of one command",
    )
    parser.add_argument("--costs", type=Path, default=COSTS, help="measured costs (bench/costs.json)")
    parser.add_argument("--seeds", type=int, default=9, help="simulated sales per model (9)")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    parser.add_argument(
        "--quiet-machine",
        action="store_true",
        help="nothing else ran on the machine during the runs: model B is model A (runs back to "
        "back see the previous one's load in the load average at their start)",
    )
    args = parser.parse_args()
    reports = [json.loads(path.read_text()) for path in args.reports]
    try:
        text, ok = compare(reports, args.costs, max(1, args.seeds), quiet=args.quiet_machine)
    except ValueError as refused:
        parser.error(str(refused))
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
