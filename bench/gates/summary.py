"""Figures over rounds: medians per gate, the ratio to the FOR UPDATE gate, the table."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

from bench.gates.load import RunStats

BASELINE = "for-update"
GATE_ORDER = ("redis", "for-update", "cond-update", "optimistic")
GATE_LABELS = {
    "redis": "Redis Lua RedisSeatGate",
    "for-update": "PG SELECT ... FOR UPDATE",
    "cond-update": "PG conditional UPDATE",
    "optimistic": "PG optimistic versions",
}


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(runs: Sequence[RunStats], gates: Sequence[str]) -> list[dict[str, Any]]:
    """Per gate: medians over rounds, error totals and the per-round ratio to FOR UPDATE."""
    by_key = {(r.gate, r.round): r for r in runs}
    rounds = sorted({r.round for r in runs})
    rows: list[dict[str, Any]] = []
    for name in gates:
        mine = [by_key[(name, n)] for n in rounds if (name, n) in by_key]
        ratios = [
            by_key[(name, n)].holds / by_key[(BASELINE, n)].holds
            for n in rounds
            if (name, n) in by_key and (BASELINE, n) in by_key and by_key[(BASELINE, n)].holds
        ]
        errors: Counter[str] = Counter()
        release_errors: Counter[str] = Counter()
        for r in mine:
            errors.update(r.errors)
            release_errors.update(r.release_errors)
        per_run = [r.to_json() for r in mine]
        rows.append(
            {
                "gate": name,
                "label": GATE_LABELS[name],
                "holds_per_s": _median([r["holds_per_s"] for r in per_run]),
                "holds_per_s_by_round": [r["holds_per_s"] for r in per_run],
                "conflicts_per_s": _median([r["conflicts_per_s"] for r in per_run]),
                "retries_per_s": _median([r["retries_per_s"] for r in per_run]),
                "gave_up_total": sum(r.gave_up for r in mine),
                "errors_total": sum(errors.values()),
                "errors": dict(errors),
                "release_errors": dict(release_errors),
                "double_holds": sum(r.double_holds for r in mine),
                "p50_ms": _median([r["p50_ms"] for r in per_run]),
                "p99_ms": _median([r["p99_ms"] for r in per_run]),
                "client_cpu_pct": _median([r["client_cpu_pct"] for r in per_run]),
                "server_cpu_pct": _median([r["server_cpu_pct"] for r in per_run]),
                "cpu_ms_per_hold": _median([r["cpu_ms_per_hold"] for r in per_run]),
                "ratio_to_for_update": _median(ratios),
                "ratio_to_for_update_by_round": ratios,
            }
        )
    return rows


def fmt(value: float | None, spec: str) -> str:
    """A figure, or "-" when there is none."""
    return "-" if value is None else format(value, spec)


COLUMNS = (
    ("gate", "<25"),
    ("holds/s", ">9"),
    ("conflicts/s", ">11"),
    ("retries/s", ">9"),
    ("errors", ">6"),
    ("p50 ms", ">8"),
    ("p99 ms", ">8"),
    ("client CPU", ">10"),
    ("DB CPU", ">7"),
    ("CPU ms/hold", ">11"),
    ("x FOR UPDATE", ">12"),
)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "  ".join(format(c, spec) for c, (_, spec) in zip(cells, COLUMNS, strict=True))

    out = [line([c for c, _ in COLUMNS]), line(["-" * len(c) if len(c) > 2 else "--" for c, _ in COLUMNS])]
    for r in rows:
        out.append(
            line(
                [
                    r["label"],
                    fmt(r["holds_per_s"], ",.0f"),
                    fmt(r["conflicts_per_s"], ",.0f"),
                    fmt(r["retries_per_s"], ",.0f") if r["gate"] == "optimistic" else "-",
                    str(r["errors_total"]),
                    fmt(r["p50_ms"], ".2f"),
                    fmt(r["p99_ms"], ".2f"),
                    fmt(r["client_cpu_pct"], ".0f") + " %",
                    fmt(r["server_cpu_pct"], ".0f") + " %",
                    fmt(r["cpu_ms_per_hold"], ".2f"),
                    fmt(r["ratio_to_for_update"], ".2f") + "x",
                ]
            )
        )
    return "\n".join(out)


def format_run(r: RunStats, rounds: int) -> str:
    j = r.to_json()
    errors = ", ".join(f"{k} {v}" for k, v in sorted(r.errors.items())) or "0"
    extra = f", retries/s {j['retries_per_s']:,.0f}, gave up {r.gave_up}" if r.gate == "optimistic" else ""
    return (
        f"  round {r.round}/{rounds}  {r.gate:<11}  holds/s {j['holds_per_s']:>8,.0f}  "
        f"conflicts/s {j['conflicts_per_s']:>8,.0f}  p50 {fmt(j['p50_ms'], '.2f')} ms  "
        f"p99 {fmt(j['p99_ms'], '.2f')} ms  errors {errors}{extra}"
    )
