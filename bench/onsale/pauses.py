"""The load generator's own garbage-collection pauses during the sale.

The harness runs every buyer on one event loop; while Python's collector runs, that loop
stops, and each response that arrives meanwhile is timed that much longer. With the
collector on, a 20,000-buyer sale stood still for 26 s of its ~200 (33 full collections of
the growing journal, the longest 1.4 s; 665 middle ones up to 221 ms): its hold p99 was the
harness's, not the server's. So the sale runs with the collector off (``quiet_collector``;
the few cycles asyncio leaves meanwhile are collected after it), and the report shows the
pauses measured (``gc.callbacks``) so that stays checked.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from bench.onsale.stats import pct


def quiet_collector() -> None:
    """Collect once, freeze what exists (buyers, tokens, the client) and switch automatic
    collection off until ``gc.enable()``."""
    gc.collect()
    gc.freeze()
    gc.disable()


class CollectorPauses:
    """Collections between ``start()`` and ``stop()``; then ``summary()``."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []  # (generation, seconds)
        self._started: float | None = None

    def start(self) -> None:
        gc.callbacks.append(self._on_collect)

    def stop(self) -> None:
        gc.callbacks.remove(self._on_collect)

    def _on_collect(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            self.pauses.append((int(info["generation"]), time.perf_counter() - self._started))
            self._started = None

    def summary(self) -> dict[str, Any]:
        """Per generation: collections, their total and longest pause; and how many of all
        paused the loop for 50 ms or more."""
        by_generation: dict[str, Any] = {}
        for generation in sorted({g for g, _ in self.pauses}):
            ms = [s * 1000 for g, s in self.pauses if g == generation]
            by_generation[str(generation)] = {
                "collections": len(ms),
                "total_s": sum(ms) / 1000,
                "p99_ms": pct(ms, 99),
                "max_ms": max(ms),
            }
        return {
            "by_generation": by_generation,
            "total_s": sum(s for _, s in self.pauses),
            "over_50ms": sum(1 for _, s in self.pauses if s >= 0.05),
        }
