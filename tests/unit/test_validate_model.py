"""The model's check against reality (bench/validate_model.py) takes several runs of one
command: it refuses runs of different sales, and a measured figure is the runs' median."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from bench.validate_model import cpu_of, median_of_runs, model_inputs, same_sale


def _report(sell_out: float, holds_ok: int, taken: float, client_s: float, requests: int) -> dict[str, Any]:
    return {
        "config": {
            "buyers": 200,
            "seats": 50,
            "prequeue_share": 0.3,
            "lead_s": 10.0,
            "arrival_s": 20.0,
            "poll_s": 2.0,
            "best_share": 0.5,
            "front_bias": 0.6,
            "max_retries": 3,
            "abandon_share": 0.15,
            "decline_share": 0.1,
            "think_s": [0.3, 1.5],
            "hold_ttl_s": 15,
            "payment_latency_ms": "100:1000",
            "connections": 96,
            "api_processes": 1,
            "worker_processes": 1,
            "seed": 1,
            "out": f"/tmp/run-{sell_out}",
        },
        "machine": ["machine: nproc 2 (os.cpu_count 2), CPU 'AMD EPYC', Linux"],
        "best_available_used": True,
        "sell_out_s": sell_out,
        "all_seats_taken_s": taken,
        "run_s": sell_out,
        "endpoints": {
            "hold": {"requests": requests, "statuses": {"201": holds_ok}, "latency_ms": {"p99": sell_out / 2}}
        },
        "queue_wait_s": {"p50": 1.0, "p95": 2.0},
        "outcomes": {},
        "cpu_s": {"client": client_s},
    }


def test_a_measured_figure_is_the_median_of_the_runs_with_their_range() -> None:
    runs = [
        _report(50.0, 100, 10.0, 5.0, 300),
        _report(70.0, 120, 10.0, 7.0, 400),
        _report(60.0, 90, 9.0, 6.0, 500),
    ]
    median, spread = median_of_runs(runs)
    assert median["sell-out s"] == 60.0
    assert spread["sell-out s"] == (50.0, 70.0)
    assert median["holds/s (201s until every seat was taken)"] == 10.0  # 10, 12 and 10
    assert median["successful-hold p99 ms"] == 30.0


def test_the_load_generators_cpu_is_that_of_all_the_runs() -> None:
    runs = [_report(50.0, 100, 10.0, 5.0, 300), _report(70.0, 120, 10.0, 7.0, 100)]
    _, fleet = model_inputs(runs)
    assert fleet.client_cpu == pytest.approx(12.0 / 120.0)
    assert fleet.client_s_per_request == pytest.approx(12.0 / 400)


def test_runs_of_different_sales_are_refused_and_their_output_folders_may_differ() -> None:
    a, b = _report(50.0, 100, 10.0, 5.0, 300), _report(70.0, 120, 10.0, 7.0, 400)
    same_sale([a, b])  # only "out" differs
    other = copy.deepcopy(b)
    other["config"]["seats"] = 60
    with pytest.raises(ValueError, match="seats"):
        same_sale([a, other])
    specific = copy.deepcopy(b)
    specific["best_available_used"] = False
    with pytest.raises(ValueError, match="best available"):
        same_sale([a, specific])


def test_the_cpu_of_the_runs_and_of_the_costs_is_read_from_their_machine_lines() -> None:
    assert cpu_of(["machine: nproc 2 (os.cpu_count 2), CPU 'Intel(R) Xeon(R) Processor', Linux"]) == (
        "Intel(R) Xeon(R) Processor"
    )
    assert cpu_of([]) == "unknown"
