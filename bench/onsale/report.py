"""The on-sale report: ``report.json`` (every figure, the timeline for the plots) and
``report.md`` (the tables a reader wants), plus the PNGs of :mod:`.plots`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def _f(value: Any, fmt: str = ".1f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, fmt)


def markdown(r: dict[str, Any]) -> str:
    c = r["config"]
    lines = [
        f"# On-sale: {c['buyers']:,} buyers, {c['seats']:,} seats",
        "",
        *[f"- {line}" for line in r["machine"]],
        f"- API processes {c['api_processes']}, workers {c['worker_processes']}, "
        f"hold TTL {c['hold_ttl_s']} s, payment latency {c['payment_latency_ms']} ms, "
        f"best-available share {c['best_share']} (the server takes best available: "
        f"{r['best_available_used']})",
        f"- faults: {', '.join(c['chaos']) or 'none'}",
        "",
        f"**Sold out** {_f(r['sell_out_s'])} s after the opening (every seat held or sold after "
        f"{_f(r['all_seats_taken_s'])} s); audit exit {r['audit']['exit']}; "
        f"{'PASSED' if r['passed'] else 'FAILED'}.",
        "",
        "| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | 409 | 429 | 503 | no answer |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, e in r["endpoints"].items():
        lat = e["latency_ms"]
        lines.append(
            f"| {name} | {e['requests']:,} | {_f(e['per_s'], '.0f')} | {_f(lat['p50'])} | {_f(lat['p95'])} | "
            f"{_f(lat['p99'])} | {e['rate_409']:.1%} | {e['rate_429']:.1%} | {e['rate_503']:.1%} | "
            f"{e['rate_no_answer']:.1%} |"
        )
    waits = r.get("connection_wait_ms") or {}
    if waits:
        lines += [
            "",
            f"The harness's wait for one of its {c['connections']} connections before sending (not in "
            "the latencies above), ms p50 / p99 / max: "
            + ", ".join(f"{n} {_f(w['p50'])} / {_f(w['p99'])} / {_f(w['max'])}" for n, w in waits.items())
            + ".",
        ]
    q, f = r["queue_wait_s"], r["fairness"]
    pre, post = f["prequeue_shuffle"], f["after_opening"]
    lines += [
        "",
        f"Queue wait (joined or opened -> admitted), {q['n']:,} buyers: p50 {_f(q['p50'])} s, "
        f"p95 {_f(q['p95'])} s, p99 {_f(q['p99'])} s, max {_f(q['max'])} s.",
        "",
        f"Outcomes: {', '.join(f'{k} {v:,}' for k, v in r['outcomes'].items())}. Hold attempts "
        f"{r['holds']['attempts']:,}, of which 409 {r['holds']['conflicts']:,}.",
        "",
        f"Purchases refused, by error code: {_refusals(r.get('refusals') or {})}.",
        "",
        f"Expiry: {r['expiry']['abandoned_holds']:,} holds abandoned; their status afterwards: "
        f"{r['expiry']['status_after']}.",
        "",
        f"Fairness: pre-queue shuffle over {pre['n']:,} early buyers: Spearman rho(join order, position) "
        f"{_f(pre['spearman'], '.3f')} (0 = independent), chi-squared p {_f(pre.get('chi2_p'), '.3f')} "
        f"(uniform unless small); after the opening ({post['n']:,} buyers) rho(join, admission) "
        f"{_f(post['spearman_join_vs_admission'], '.3f')}, rho(join, position) "
        f"{_f(post['spearman_join_vs_position'], '.3f')} (1 = FIFO).",
        "",
    ]
    if r["chaos"]:
        lines += [
            "| fault | at s | down s | recovery s | outage s | failed requests |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for x in r["chaos"]:
            lines.append(
                f"| {x['fault']} | {_f(x['at_s'])} | {_f(x.get('down_s'))} | "
                f"{_f(x.get('recovery_s'), '.2f')} | "
                f"{_f(x.get('outage_s'), '.2f')} | {x.get('failed_requests', '-')} |"
            )
        lines.append("")
    checks = r["checks"]
    lines += [
        f"Checks: seats bought by buyers {checks['seats_bought_by_buyers']:,}, SOLD on the map "
        f"{checks['seats_sold_on_map']:,}, bought twice {len(checks['bought_twice'])}. "
        "CPU s during the sale: " + ", ".join(f"{k} {v:.1f}" for k, v in r["cpu_s"].items()),
        "",
        *_collector_pauses(r.get("load_generator_gc")),
        "![throughput](throughput.png) ![latency](latency.png)",
        "![seats](seats.png) ![queue](queue.png)",
        "",
    ]
    return "\n".join(lines)


def _collector_pauses(gc: dict[str, Any] | None) -> list[str]:
    """The load generator's garbage-collection pauses (bench/onsale/pauses.py): its one event
    loop stood still for them, and responses arriving then were timed longer."""
    if not gc:
        return []
    gens = ", ".join(
        f"gen {g}: {v['collections']:,} ({v['total_s']:.2f} s, longest {v['max_ms']:.0f} ms)"
        for g, v in gc["by_generation"].items()
    )
    return [
        f"Load generator's collector pauses: {gc['total_s']:.2f} s in all, {gc['over_50ms']} of 50 ms "
        f"or more; {gens}.",
        "",
    ]


def write_report(report: dict[str, Any], out: Path, *, plots: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1, default=str))
    (out / "report.md").write_text(markdown(report))
    if plots:
        from bench.onsale.plots import draw

        draw(report, out)


def _refusals(refusals: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in refusals.items()) or "none"
