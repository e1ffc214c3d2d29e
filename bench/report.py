"""Result tables: one row per scenario, medians over repeated runs."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.loadgen import LoadResult


@dataclass(frozen=True, slots=True)
class Summary:
    """One table row: the median of each figure over repeated runs of a scenario."""

    name: str
    runs: int
    requests: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    """Total over all runs, not a median: one bad response is one too many."""
    ratio: float | None
    """Median over runs of req/s divided by the baseline's req/s in the same round."""
    client_cpu_pct: float
    server_cpu_pct: float | None
    server_cpu_ms_per_request: float | None
    """Server CPU per successful response: steadier than req/s when other work shares the CPU."""

    @classmethod
    def of(
        cls, name: str, results: Sequence[LoadResult], baselines: Sequence[LoadResult] | None = None
    ) -> Summary:
        def med(values: Sequence[float]) -> float:
            return statistics.median(values) if values else math.nan

        ratios = [r.rps / b.rps for r, b in zip(results, baselines or (), strict=False) if b.rps > 0]
        server = [r.server_cpu_s / r.duration_s * 100 for r in results if r.server_cpu_s is not None]
        per_request = [r.server_cpu_s * 1000 / r.ok for r in results if r.server_cpu_s is not None and r.ok]
        return cls(
            name=name,
            runs=len(results),
            requests=med([r.ok for r in results]),
            rps=med([r.rps for r in results]),
            p50_ms=med([r.p50_ms for r in results]),
            p90_ms=med([r.p90_ms for r in results]),
            p99_ms=med([r.p99_ms for r in results]),
            max_ms=med([r.max_ms for r in results]),
            errors=sum(r.error_count for r in results),
            ratio=med(ratios) if ratios else None,
            client_cpu_pct=med([r.client_cpu_s / r.duration_s * 100 for r in results]),
            server_cpu_pct=med(server) if server else None,
            server_cpu_ms_per_request=med(per_request) if per_request else None,
        )


_COLUMNS = (
    ("scenario", 24),
    ("runs", 4),
    ("requests", 9),
    ("req/s", 8),
    ("p50 ms", 7),
    ("p90 ms", 7),
    ("p99 ms", 7),
    ("max ms", 7),
    ("errors", 6),
    ("ratio", 6),
    ("cli CPU", 7),
    ("srv CPU", 7),
    ("srv ms/req", 10),
)


def _cells(values: Sequence[str]) -> str:
    first, *rest = zip(values, _COLUMNS, strict=True)
    return "  ".join([first[0].ljust(first[1][1])] + [v.rjust(w) for v, (_, w) in rest])


def _num(value: float | None, fmt: str, suffix: str = "") -> str:
    return "-" if value is None or math.isnan(value) else format(value, fmt) + suffix


def table_header() -> str:
    header = _cells([name for name, _ in _COLUMNS])
    return header + "\n" + "-" * len(header)


def format_row(s: Summary) -> str:
    return _cells(
        [
            s.name,
            str(s.runs),
            _num(s.requests, ".0f"),
            _num(s.rps, ".0f"),
            _num(s.p50_ms, ".2f"),
            _num(s.p90_ms, ".2f"),
            _num(s.p99_ms, ".2f"),
            _num(s.max_ms, ".1f"),
            str(s.errors),
            _num(s.ratio, ".2f"),
            _num(s.client_cpu_pct, ".0f", "%"),
            _num(s.server_cpu_pct, ".0f", "%"),
            _num(s.server_cpu_ms_per_request, ".3f"),
        ]
    )


def format_table(rows: Sequence[Summary]) -> str:
    return "\n".join([table_header(), *(format_row(s) for s in rows)])
