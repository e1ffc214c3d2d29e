"""The on-sale report's figures, computed from what the harness journaled: every request,
every buyer's record, the monitor's samples and the faults."""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from bench.loadgen import percentile
from bench.onsale.buyer import BuyerRecord
from bench.onsale.chaos import Fault

Sample = tuple[float, int, int, int, int, int, int]
"""(t, available, held, sold, queue length, admitted and shopping, admitted so far)."""
HURT_BY = {
    "redis-kill": ("hold", "queue_status", "seat_map"),
    "api-kill": ("hold", "queue_status", "seat_map"),
    "pg-restart": ("hold", "purchase"),
}


def pct(values: Sequence[float], p: float) -> float:
    return float(percentile(sorted(values), p)) if values else math.nan


def spread(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": pct(values, 50),
        "p95": pct(values, 95),
        "p99": pct(values, 99),
        "max": max(values) if values else math.nan,
    }


def ranks(values: Sequence[float]) -> list[float]:
    """Ranks 1..n, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    if len(x) < 3:
        return math.nan
    try:
        return statistics.correlation(ranks(x), ranks(y))
    except statistics.StatisticsError:
        return math.nan


def chi2_sf(stat: float, df: int) -> float:
    """P(X >= stat) for X ~ chi-squared(df), by the Wilson-Hilferty normal approximation."""
    if df <= 0:
        return math.nan
    z = ((stat / df) ** (1 / 3) - (1 - 2 / (9 * df))) / math.sqrt(2 / (9 * df))
    return 0.5 * math.erfc(z / math.sqrt(2))


def uniformity(join_order: Sequence[float], positions: Sequence[float], bins: int = 10) -> dict[str, float]:
    """Is the pre-queue shuffle independent of arrival? Spearman rho of join order vs position
    (about 0 if so) and a chi-squared test of the bins x bins table of their deciles."""
    n = len(positions)
    if n < bins * 5:
        return {"n": n, "spearman": spearman(join_order, positions), "chi2_p": math.nan}
    rj, rp = ranks(join_order), ranks(positions)
    table: Counter[tuple[int, int]] = Counter(
        (min(int((a - 1) * bins / n), bins - 1), min(int((b - 1) * bins / n), bins - 1))
        for a, b in zip(rj, rp, strict=True)
    )
    rows: Counter[int] = Counter()
    cols: Counter[int] = Counter()
    for (r, c), k in table.items():
        rows[r] += k
        cols[c] += k
    stat = sum(
        (table[(r, c)] - rows[r] * cols[c] / n) ** 2 / (rows[r] * cols[c] / n)
        for r in rows
        for c in cols
        if rows[r] * cols[c]
    )
    return {
        "n": n,
        "spearman": spearman(join_order, positions),
        "chi2": stat,
        "chi2_p": chi2_sf(stat, (bins - 1) ** 2),
    }


def endpoints(entries: list[tuple[float, str, int, float]], since: float) -> dict[str, dict[str, Any]]:
    by: dict[str, list[tuple[float, int, float]]] = defaultdict(list)
    for sent, name, status, latency in entries:
        if sent >= since:
            by[name].append((sent, status, latency))
    out: dict[str, dict[str, Any]] = {}
    for name, rows in sorted(by.items()):
        statuses = Counter(s for _, s, _ in rows)
        ok = [lat * 1000 for _, s, lat in rows if 200 <= s < 300]
        span = max(r[0] for r in rows) - min(r[0] for r in rows)
        out[name] = {
            "requests": len(rows),
            "per_s": len(rows) / span if span > 0 else math.nan,
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "latency_ms": {k: v for k, v in spread(ok).items() if k != "n"},
            "rate_409": statuses[409] / len(rows),
            "rate_429": statuses[429] / len(rows),
            "rate_503": statuses[503] / len(rows),
            "rate_no_answer": statuses[0] / len(rows),
        }
    return out


def fairness(buyers: list[BuyerRecord], open_at: float) -> dict[str, Any]:
    before = [b for b in buyers if b.joined_at is not None and b.joined_at < open_at and b.position]
    after = [b for b in buyers if b.joined_at is not None and b.joined_at >= open_at and b.admitted_at]
    return {
        "prequeue_shuffle": uniformity([b.joined_at or 0 for b in before], [b.position or 0 for b in before]),
        "after_opening": {
            "n": len(after),
            "spearman_join_vs_admission": spearman(
                [b.joined_at or 0 for b in after], [b.admitted_at or 0 for b in after]
            ),
            "spearman_join_vs_position": spearman(
                [b.joined_at or 0 for b in after], [b.position or 0 for b in after]
            ),
        },
    }


def recovery(
    faults: list[Fault], entries: list[tuple[float, str, int, float]], bought_at: list[float]
) -> list[dict[str, Any]]:
    out = []
    for f in faults:
        if f.started is None or f.restored is None:
            out.append({"fault": f.kind, "at_s": f.at_s, "injected": False})
            continue
        if f.kind in HURT_BY:
            hurt = HURT_BY[f.kind]
            firsts = [
                s + lat for s, name, st, lat in entries if name in hurt and 200 <= st < 300 and s >= f.started
            ]
            fails = sum(
                1 for s, name, st, _ in entries if name in hurt and (st == 0 or st >= 500) and s >= f.started
            )
        else:
            firsts = [t for t in bought_at if t >= f.restored]
            fails = 0
        first_ok = min(firsts) if firsts else None
        out.append(
            {
                "fault": f.kind,
                "at_s": f.at_s,
                "down_s": f.restored - f.started,
                "recovery_s": (first_ok - f.restored) if first_ok is not None else None,
                "outage_s": (first_ok - f.started) if first_ok is not None else None,
                "failed_requests": fails,
            }
        )
    return out


def timeline(
    entries: list[tuple[float, str, int, float]],
    open_at: float,
    bought_at: list[float],
    slot_waits: Sequence[tuple[float, float]] = (),
) -> dict[str, list[float]]:
    """Per second after the opening: holds by outcome, purchases done, hold latency p50/p99,
    requests sent per endpoint (``sent_<endpoint>``) and the p50 of their waits for one of the
    client's connections (``connection_wait_p50_ms``): the throughput and the harness's queue
    over time, which the model is checked against, not only in total."""
    end = int(max((e[0] for e in entries), default=open_at) - open_at) + 1
    sec: dict[str, list[float]] = {k: [0.0] * end for k in ("hold_201", "hold_409", "hold_other", "bought")}
    lat: dict[int, list[float]] = defaultdict(list)
    for sent, name, status, latency in entries:
        i = math.floor(sent - open_at)  # a request just before the opening is not in second 0
        if not 0 <= i < end:
            continue
        sec.setdefault(f"sent_{name}", [0.0] * end)[i] += 1
        if name != "hold":
            continue
        key = "hold_201" if status == 201 else "hold_409" if status == 409 else "hold_other"
        sec[key][i] += 1
        if status == 201:
            lat[i].append(latency * 1000)
    for t in bought_at:
        i = math.floor(t - open_at)
        if 0 <= i < end:
            sec["bought"][i] += 1
    waits: dict[int, list[float]] = defaultdict(list)
    for sent, wait in slot_waits:
        if 0 <= (i := math.floor(sent - open_at)) < end:
            waits[i].append(wait * 1000)
    sec["connection_wait_p50_ms"] = [pct(waits[i], 50) for i in range(end)]
    sec["hold_p50_ms"] = [pct(lat[i], 50) for i in range(end)]
    sec["hold_p99_ms"] = [pct(lat[i], 99) for i in range(end)]
    return sec
