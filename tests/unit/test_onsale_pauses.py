"""The on-sale harness times its own collector pauses (bench/onsale/pauses.py), only between
start and stop."""

from __future__ import annotations

import gc

from bench.onsale.pauses import CollectorPauses


def test_collections_between_start_and_stop_are_timed_by_generation() -> None:
    pauses = CollectorPauses()
    pauses.start()
    gc.collect(2)
    gc.collect(0)
    pauses.stop()
    gc.collect(2)

    summary = pauses.summary()

    assert summary["by_generation"]["2"]["collections"] == 1
    assert summary["by_generation"]["0"]["collections"] >= 1
    assert summary["total_s"] == sum(s for _, s in pauses.pauses) > 0
    assert summary["by_generation"]["2"]["max_ms"] > 0


def test_nothing_collected_is_an_empty_summary() -> None:
    assert CollectorPauses().summary() == {"by_generation": {}, "total_s": 0, "over_50ms": 0}
