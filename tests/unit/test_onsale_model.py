"""The on-sale model (bench/model.py, SimPy): a small sale sells out, and a
request's CPU is served in slices, so a cheap hold does not wait out a purchase's CPU."""

from __future__ import annotations

from typing import Any

from bench.model import SLICE_S, Fleet, Load, Model
from bench.simulate import simulate

COST = {"api": 0.0002, "redis": 0.0001, "postgres": 0.0001, "worker": 0.0}
COSTS = {
    name: dict(COST)
    for name in ("auth", "queue_join", "queue_status", "seat_map", "hold", "purchase", "purchase_status")
}


def test_a_small_sale_sells_out_and_no_hold_is_faster_than_its_service_time() -> None:
    load = Load(buyers=600, seats=120, lead_s=5, arrival_s=5, hold_ttl_s=20, seed=3)

    result = simulate(load, Fleet(), COSTS)

    assert result["sell_out_s"] is not None
    assert result["all_seats_taken_s"] <= result["sell_out_s"]
    assert result["holds_ok"] >= load.seats // 4  # at most 4 seats a hold
    floor_ms = (COST["api"] + COST["redis"] + COST["postgres"]) * 1000 + load.rtt_ms
    assert result["hold_ms"]["p50"] >= floor_ms - 1e-9
    assert result["queue_wait_s"]["p50"] >= 0


def test_a_cheap_request_waits_behind_a_slice_of_an_expensive_one_not_all_of_it() -> None:
    heavy = 50 * SLICE_S
    costs = {**COSTS, "purchase": {"api": heavy, "redis": 0.0, "postgres": 0.0, "worker": 0.0}}
    model = Model(Load(rtt_ms=0.0), Fleet(api=1), costs)
    done: dict[str, float] = {}

    def call(endpoint: str, after: float) -> Any:
        yield model.env.timeout(after)
        yield from model.request(endpoint)
        done[endpoint] = model.env.now

    model.env.process(call("purchase", 0.0))
    model.env.process(call("hold", SLICE_S / 10))
    model.env.run()

    assert done["hold"] < 3 * SLICE_S  # one slice of the purchase, then its own CPU
    assert done["purchase"] >= heavy
