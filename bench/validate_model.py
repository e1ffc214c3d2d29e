"""The model checked against reality: run ``bench.simulate`` with the load and the fleet of a
``ticketmaster bench onsale`` run on this machine, and compare what both say.

Contract: read the benchmark's ``report.json`` and the measured costs (``bench/costs.json``);
simulate the same crowd (buyers, seats, pre-queue share, lead, arrivals, polling, choices,
shares, hold TTL, payment latency) on the same fleet (API processes, workers) sharing this
machine's cores, with the load generator's own CPU (measured in the run) as background load.
Compare sell-out time, holds/s, successful-hold p99 and queue-wait p50/p95; each within 20 %
or not. Prints Markdown (for docs/performance.md); ``--out`` writes it to a file too.

Usage: ``.venv/bin/python -m bench.validate_model REPORT.json [--costs bench/costs.json] [--out F]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.model import Fleet, Load, load_costs
from bench.simulate import COSTS, simulate

TOLERANCE = 0.20


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
        payment_ms=(float(low), float(high or low)),
        seed=c["seed"],
    )
    fleet = Fleet(
        api=c["api_processes"],
        workers=c["worker_processes"],
        postgres_cores=2,
        shared_cores=len(os.sched_getaffinity(0)),
        client_cpu=report["cpu_s"].get("client", 0.0) / run_s,
    )
    return load, fleet


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


def compare(report: dict[str, Any], costs_path: Path) -> tuple[str, bool]:
    load, fleet = model_inputs(report)
    result = simulate(load, fleet, load_costs(costs_path))
    real, model = measured(report), modelled(result)
    lines = [
        f"Model vs measurement: `bench onsale` of {load.buyers:,} buyers for {load.seats:,} seats, "
        f"{fleet.api} API process(es), {fleet.workers} worker(s), on {fleet.shared_cores} shared cores "
        f"(load generator {fleet.client_cpu:.2f} cores); costs from `{costs_path.name}`.",
        "",
        "| figure | measured | model | model / measured | within 20 % |",
        "| --- | ---: | ---: | ---: | :---: |",
    ]
    ok_all = True
    for name, value in real.items():
        m = model[name]
        ratio = (m / value) if (m is not None and value) else None
        ok = ratio is not None and abs(ratio - 1) <= TOLERANCE
        ok_all &= ok
        lines.append(f"| {name} | {_f(value)} | {_f(m)} | {_f(ratio, '.2f')} | {'yes' if ok else 'NO'} |")
    lines += ["", f"(simulated in {result['wall_s']:.1f} s)"]
    return "\n".join(lines), ok_all


def _f(v: float | None, fmt: str = ".1f") -> str:
    return "-" if v is None else format(v, fmt)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("report", type=Path, help="report.json of a `ticketmaster bench onsale` run")
    parser.add_argument("--costs", type=Path, default=COSTS, help="measured costs (bench/costs.json)")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    args = parser.parse_args()
    text, ok = compare(json.loads(args.report.read_text()), args.costs)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
