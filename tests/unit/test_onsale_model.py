"""The on-sale model (bench/model.py, SimPy): a small sale sells out; a request is served in
its steps on the API's event loop (STEPS), each queued behind the runnable ones, and holds
share group commits; buyers behave as bench/onsale/buyer.py's."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bench.model import (
    COUNTS,
    HOLD_MAX_BATCH,
    MAP_READS,
    MAP_RETRY_S,
    SECTION_SEATS,
    STEPS,
    Fleet,
    Load,
    Model,
    View,
)
from bench.onsale.run import ROW_SEATS
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


def test_a_hold_waits_behind_the_runnable_requests_at_each_of_its_awaits() -> None:
    # The API is one event loop: after each Redis round trip a request's next step queues
    # behind every step runnable by then, so a hold costing 0.2 ms of CPU waits out the polls
    # that arrived while it was at Redis; a poll (no await) runs in one turn.
    polls = 10
    costs = {**COSTS, "queue_status": {"api": 0.001, "redis": 0.0, "postgres": 0.0, "worker": 0.0}}
    model = Model(Load(rtt_ms=0.0), Fleet(api=1), costs)
    done: dict[str, float] = {}

    def call(kind: str, after: float) -> Any:
        yield model.env.timeout(after)
        yield from model.request(kind, (lambda: "hold_409") if kind == "hold_201" else None)
        done.setdefault(kind, model.env.now)

    model.env.process(call("hold_201", 0.0))
    for _ in range(polls):
        model.env.process(call("queue_status", 1e-6))
    model.env.run()

    assert done["queue_status"] <= 2 * 0.001  # the first poll: one turn
    assert done["hold_201"] >= polls * 0.001  # behind every poll, for its 0.2 ms of CPU
    assert model.out.busy["postgres"] == 0.0  # a 409 writes no row


def test_holds_granted_while_a_commit_is_in_flight_share_the_next_one() -> None:
    # adapters/postgres/holds.py HoldWriter: one writer; holds queued meanwhile go together
    # (at most max_batch), each answered only after its batch committed.
    costs = {**COSTS, "hold": {"api": 0.0001, "redis": 0.0001, "postgres": 0.002, "worker": 0.0}}
    model = Model(Load(rtt_ms=0.0), Fleet(api=1), costs)
    latency: list[float] = []

    def call(after: float) -> Any:
        yield model.env.timeout(after)
        latency.append((yield from model.request("hold_201", lambda: "hold_201")))

    holds = 300
    for i in range(holds):
        model.env.process(call(i * 0.0001))  # 10 a millisecond, each 2 ms of commit
    model.env.run()

    assert sum(model.out.commits) == holds
    assert len(model.out.commits) < holds / 5  # batched
    assert max(model.out.commits) <= HOLD_MAX_BATCH
    assert min(latency) >= 0.002  # every 201 waited for a commit
    assert model.out.busy["postgres"] >= holds * 0.002 - 1e-9  # each row's CPU, once


def test_a_purchase_spends_its_statements_share_of_the_measured_postgresql_cpu() -> None:
    # The measured purchase cost runs until it settled: its PostgreSQL CPU is split over the
    # request's statements and the worker's (Steps.worker_statements).
    costs = {**COSTS, "purchase": {"api": 0.001, "redis": 0.0, "postgres": 0.024, "worker": 0.0}}
    model = Model(Load(rtt_ms=0.0), Fleet(api=1), costs)
    model.env.process(model.request("purchase"))
    model.env.run()
    own = STEPS["purchase"].postgres_share()

    assert own == 9 / 24  # nine statements in the request, fifteen in the worker
    assert abs(model.out.busy["postgres"] - 0.024 * own) < 1e-9
    done = model.env.event()
    model.env.process(model._charge(done))
    model.env.run()
    assert done.triggered
    assert abs(model.out.busy["postgres"] - 0.024) < 1e-9


def test_joining_again_looks_the_passed_place_up_and_rejoins_once_it_lapsed() -> None:
    # services/waiting_room.py join: a place the counter passed costs a read of what the
    # ticker did with it, and a lapsed admission a second queue_join.lua.
    model = Model(Load(seats=10, lead_s=0.0, admission_window_s=120.0), Fleet(), COSTS)
    assert model._join_kind(7) == "queue_join"
    model._join(7)
    assert model._join_kind(7) == "queue_join"  # not passed yet
    model.counter, model.passed_at = 1, [0.0]
    assert model._join_kind(7) == "queue_join_passed"
    model.env.run(until=121.0)
    assert model._join_kind(7) == "queue_join_lapsed"
    assert len(STEPS["queue_join_lapsed"].waits) == len(STEPS["queue_join"].waits) + 2


def test_a_buyer_finding_no_seats_waits_after_its_last_map_read_too() -> None:
    # bench/onsale/buyer.py _read_map sleeps 2 s after every read that showed too few seats,
    # the last one included, before "no seats".
    model = Model(Load(seats=10, rtt_ms=0.0), Fleet(), COSTS)
    model.available = []
    ended: list[Any] = []

    def shop() -> Any:
        ended.append((yield from model._read_map_until(2)))
        ended.append(model.env.now)

    model.env.process(shop())
    model.env.run()

    assert ended[0] is None
    assert ended[1] >= MAP_READS * MAP_RETRY_S
    assert model.out.requests["seat_map"] == MAP_READS


def test_stalled_shoppers_find_released_seats_at_their_next_map_read() -> None:
    # bench/onsale/buyer.py: a buyer without seats re-reads the map once a cycle, with a count
    # drawn afresh, and shops when the map shows that many; nothing wakes it on a release.
    model = Model(Load(seats=10), Fleet(), COSTS)
    model.available = []
    waiting = [model.env.event() for _ in range(1000)]
    model.stalled.extend(waiting)
    model.discover(0.5)
    assert not any(w.triggered for w in waiting)  # no free seat: every map read shows none

    model.available = [5]
    model.discover(0.5)
    woken = [w for w in waiting if w.triggered]

    assert 0.05 * 1000 < len(woken) < 0.5 * 1000  # the half that read the map, wanting one seat
    assert all(w.value == 1 for w in woken)
    assert len(model.stalled) == 1000 - len(woken)


def test_a_buyer_chooses_from_its_copy_of_the_map_less_the_seats_a_409_named() -> None:
    model = Model(Load(seats=10, front_bias=0.0), Fleet(), COSTS)
    model.available = list(range(10))
    view = model.seat_map_copy()
    model.available = [7, 8, 9]  # others took seats meanwhile; the copy does not know
    view.removed.update(range(5))

    for _ in range(20):
        choice = model.pick(2, view)
        assert len(choice) == 2
        assert not set(choice) & set(range(5))
    assert model.seat_map_copy().seats is view.seats  # one parse serves every buyer for a while


def test_waiters_poll_less_when_the_counter_slows() -> None:
    # The server's wait estimate follows the counter's measured speed, and a waiting page polls
    # every third of its estimate (at least every poll_s, at most every 15 s).
    model = Model(Load(seats=5000, poll_s=2.0), Fleet(), COSTS)
    model.speed = model.rate
    moving = model.poll_rate(20_000, before_open=False)
    model.speed = 0.0  # the cap is reached: the counter stands still
    stalled = model.poll_rate(20_000, before_open=False)

    assert stalled < moving / 4
    assert stalled >= 20_000 / 15  # nobody polls less than once every 15 s


def test_shoppers_without_seats_load_the_system_as_the_harness_buyers_loop() -> None:
    # bench/onsale/buyer.py: two map reads, a pause, join again and poll, every STALL_CYCLE_S.
    model = Model(Load(seats=10, poll_s=2.0), Fleet(), COSTS)
    model.available = []  # every seat held: they keep looping
    for _ in range(800):
        model.stalled.append(model.env.event())
    model.env.process(model.joins_and_polls([], open_at=0.0))
    model.env.run(until=8.0)

    requests = model.out.requests
    assert requests["queue_join"] == requests["queue_status"]
    assert requests["seat_map"] == 2 * requests["queue_join"]
    assert 700 <= requests["queue_status"] <= 900  # 800 shoppers, one cycle of 8 s each


def test_a_buyer_picks_a_row_run_in_a_front_weighted_section_as_the_harness_does() -> None:
    # bench/onsale/seats.py: a section by front-weighted draw, then any run of adjacent free
    # seats in one row of it (not the front of the section); singles when no row has a run.
    model = Model(Load(seats=1000, front_bias=0.6), Fleet(), COSTS)
    view = model.seat_map_copy()
    picks = [model.pick(2, view) for _ in range(2000)]
    first_section = [p for p in picks if p[0] < SECTION_SEATS]
    rows = {(p[0] % SECTION_SEATS) // ROW_SEATS for p in first_section}

    assert all(p[1] == p[0] + 1 and p[0] // ROW_SEATS == p[1] // ROW_SEATS for p in picks)
    assert len(first_section) > len(picks) / 2  # the front section is likelier
    assert len(rows) == SECTION_SEATS // ROW_SEATS  # every row of it, not only the front ones

    model.available = [s for s in range(1000) if s % ROW_SEATS % 4 != 3]  # runs of at most 3
    view = View(model.available)
    four = model.pick(4, view)
    one_run = four[3] - four[0] == 3 and four[0] // ROW_SEATS == four[3] // ROW_SEATS
    assert len(set(four)) == 4
    assert set(four) <= set(model.available)
    assert not one_run


def test_waiters_who_joined_early_poll_once_just_after_the_opening_and_not_before() -> None:
    # bench/onsale/buyer.py: before onSaleAt a waiter sleeps until it, plus up to poll_s.
    model = Model(Load(seats=10, poll_s=2.0), Fleet(), COSTS)
    model.available = []
    model.env.process(model.joins_and_polls([0.0] * 3000, open_at=10.0))
    model.env.run(until=9.95)
    assert model.out.requests["queue_status"] == 0

    model.env.run(until=12.0)
    assert 2900 <= model.out.requests["queue_status"] <= 3100  # each once in the 2 s after it


def test_with_a_connection_pool_a_request_is_timed_from_when_it_has_a_connection() -> None:
    # bench/onsale/client.py: a buyer waits for one of --connections, untimed; the latency the
    # harness reports starts when it has one.
    model = Model(Load(rtt_ms=0.0, connections=1), Fleet(api=1), COSTS)
    latency: list[float] = []
    done: list[float] = []

    def call() -> Any:
        latency.append((yield from model.request("hold_201")))
        done.append(model.env.now)

    for _ in range(3):
        model.env.process(call())
    model.env.run()

    service = COST["api"] + COST["redis"] + COST["postgres"]
    assert max(latency) < 1.5 * service  # none timed its wait for the connection
    assert max(done) >= 3 * service - 1e-9  # but they went one after another


def test_a_response_waits_for_the_load_generators_one_event_loop() -> None:
    model = Model(Load(rtt_ms=0.0), Fleet(api=4, client_s_per_request=0.01), COSTS)
    latency: list[float] = []

    def call() -> Any:
        latency.append((yield from model.request("queue_status")))

    for _ in range(2):
        model.env.process(call())
    model.env.run()

    assert min(latency) >= 0.01
    assert max(latency) >= 0.02  # the second response waited for the loop to handle the first
    assert model.out.busy["client"] == 0.02


def test_a_buyer_keeps_its_place_on_joining_again_until_its_admission_lapses() -> None:
    # services/waiting_room.py join: same number while the admission is fresh, else the back.
    model = Model(Load(seats=10, lead_s=0.0, admission_window_s=120.0), Fleet(), COSTS)
    first = model._join(7)
    model._join(8)
    model.counter, model.passed_at = 1, [0.0]
    model.env.run(until=119.0)
    assert model._join(7) == first

    model.env.run(until=121.0)
    again = model._join(7)

    assert again == 2  # behind buyer 8
    assert model.line == [7, 8, 7]


def test_a_per_buyer_waiter_is_admitted_at_the_poll_that_reports_it_not_before() -> None:
    # bench/onsale/buyer.py times the queue wait to the poll that reports the admission; the
    # next poll comes U(0.5, 1.5) x clamp(estimate / 3, poll, 15) s after the last one.
    load = Load(buyers=400, seats=40, lead_s=5, arrival_s=5, hold_ttl_s=15, per_buyer=True, seed=2)
    model = Model(load, Fleet(), COSTS)
    out = model.run()

    lags = [seen - passed for seen, passed in model.noticed.values()]
    assert out.sell_out_s is not None
    assert len(model.noticed) == out.admitted == len(out.waits) > 0
    assert min(lags) >= 0
    assert sum(lags) / len(lags) > 0.2  # polls are seconds apart: most see it a while later
    assert out.requests["queue_join"] >= out.admitted
    assert out.requests["queue_status"] >= out.admitted


def test_the_server_estimate_a_waiter_polls_by_grows_with_the_positions_ahead() -> None:
    model = Model(Load(seats=5000), Fleet(), COSTS)
    model.counter = 100
    assert model._estimate(50) == 0.0  # passed: admitted at the next poll
    assert model._estimate(100 + int(model.rate) * 3) == 3.0
    model.speed = 0.0  # the cap is reached: the estimate uses 1 % of the configured rate
    model._view = (-1.0, 0, 0.0)
    assert model._estimate(100 + int(model.rate) * 3) == 300.0  # 2,500 ahead at 8.3/s


def test_a_declined_payment_paid_again_after_the_holds_own_expiry_is_refused() -> None:
    # The worker hands a declined hold back only until its own expiry (purchase_processing
    # ``_fail``): every first payment declined and settled after the hold lapsed, no retry
    # buys anything and the seats come back; with a long hold every retry buys.
    def sale(hold_ttl_s: float) -> dict[str, Any]:
        load = Load(
            buyers=300,
            seats=60,
            lead_s=5,
            arrival_s=5,
            hold_ttl_s=hold_ttl_s,
            abandon_share=0.0,
            decline_share=1.0,
            payment_ms=(1500.0, 1500.0),
            seed=3,
        )
        return simulate(load, Fleet(), COSTS)

    lapsed, kept = sale(hold_ttl_s=1.0), sale(hold_ttl_s=600.0)

    assert lapsed["purchases_409"] >= lapsed["holds_ok"] > 0
    assert lapsed["sell_out_s"] is None
    assert kept["purchases_409"] == 0
    assert kept["sell_out_s"] is not None


def test_best_available_takes_the_front_most_block_of_one_row_or_refuses() -> None:
    # hold_best.lua with ``adjacent`` (the API's default): ``count`` seats side by side in one
    # row; two free seats at a row's end and the next row's start are not a block.
    model = Model(Load(seats=3 * ROW_SEATS), Fleet(), {**COSTS, "hold_best": dict(COST)})
    row_end, next_row = ROW_SEATS - 1, ROW_SEATS
    model.available = [0, 2, row_end, next_row, next_row + 2, next_row + 3, next_row + 4]

    assert model._best_block(3) == [next_row + 2, next_row + 3, next_row + 4]
    assert model._best_block(1) == [0]
    assert model._best_block(4) == []

    outcome: list[Any] = []

    def ask() -> Any:
        outcome.append((yield from model._hold(3, True, [])))

    model.env.process(ask())
    model.env.run()
    ((held, seats, _),) = outcome
    assert (held, seats) == ("held", [next_row + 2, next_row + 3, next_row + 4])
    assert model.out.requests["hold"] == 1  # counted as a hold, as the harness journals it


def test_a_first_purchase_reaching_the_server_after_the_hold_lapsed_is_refused() -> None:
    # Behind a saturated connection pool a buyer's first purchase can arrive after the hold's
    # TTL: the server answers 409 and the seats were free from the expiry on, so other buyers
    # hold them again. Here every buyer thinks longer than the TTL before paying.
    load = Load(
        buyers=300,
        seats=60,
        lead_s=5,
        arrival_s=5,
        hold_ttl_s=1.0,
        think_s=(2.0, 2.0),
        abandon_share=0.0,
        decline_share=0.0,
        seed=5,
    )
    late = simulate(load, Fleet(), COSTS)
    in_time = simulate(replace(load, think_s=(0.1, 0.1)), Fleet(), COSTS)

    assert late["purchases_409"] == late["holds_ok"] > 0
    assert late["sell_out_s"] is None
    assert late["holds_ok"] * min(COUNTS) > load.seats  # the lapsed holds' seats were held again
    assert in_time["purchases_409"] == 0
    assert in_time["sell_out_s"] is not None


def test_a_purchase_of_a_lapsed_hold_is_refused_at_its_first_statements() -> None:
    # services/purchases.py: BEGIN, lock_hold, by_key, now() find the hold lapsed; ROLLBACK and
    # a 409: 7 of a purchase's 12 steps on the API, 5 of its 24 statements, nothing for the worker.
    costs = {**COSTS, "purchase": {"api": 0.012, "redis": 0.0, "postgres": 0.024, "worker": 0.0}}
    model = Model(Load(rtt_ms=0.0), Fleet(api=1), costs)
    seen: list[int] = []

    def decide() -> str:
        seen.append(len(seen))
        return "purchase_409"

    model.env.process(model.request("purchase", decide))
    model.env.run()

    assert seen == [0]
    assert abs(model.out.busy["api"] - 0.012 * 7 / 12) < 1e-9
    assert abs(model.out.busy["postgres"] - 0.024 * 5 / 24) < 1e-9
    assert model.out.requests["purchase"] == 1


def test_a_seat_map_read_renders_only_when_a_seat_changed_since_the_last_render() -> None:
    # services/seat_map.py: the first read after a change pays the render (seat_map_changed's
    # measured cost), the reads after it the cached body's, until the next change.
    costs = {
        **COSTS,
        "seat_map": {"api": 0.001, "redis": 0.0, "postgres": 0.0, "worker": 0.0},
        "seat_map_changed": {"api": 0.004, "redis": 0.0, "postgres": 0.0, "worker": 0.0},
    }
    model = Model(Load(seats=50, rtt_ms=0.0), Fleet(api=1), costs)

    def read() -> float:
        before = model.out.busy["api"]
        model.env.process(model._read_map())
        model.env.run()
        return round(model.out.busy["api"] - before, 9)

    assert read() == 0.001  # nothing changed since the sale began
    assert model._take([3, 4])
    assert [read(), read()] == [0.004, 0.001]
    model._release([3])
    assert read() == 0.004


def test_the_sized_fleet_is_the_one_its_check_ran_on() -> None:
    from bench.simulate import size_fleet

    # A headroom nothing meets: every check fails and the fleet is doubled between them; the
    # answer names the last fleet checked, not the next doubling.
    load = Load(buyers=200, seats=40, lead_s=5, arrival_s=5, seed=2)
    sized = size_fleet(load, COSTS, headroom=1e-4)

    assert not sized["meets_slos"]
    assert sized["fleet"] == sized["check"]["fleet"]


def _hog_the_connection(model: Model, seconds: float) -> Any:
    """Another buyer's requests, back to back on the pool's one connection."""
    assert model.conns is not None
    while True:
        with model.conns.request() as connection:
            yield connection
            yield model.env.timeout(seconds)


def test_a_poll_reports_what_the_server_sees_when_it_serves_it_not_when_it_was_asked() -> None:
    # Behind a saturated pool a poll waits seconds for a connection; the counter that passes
    # the waiter meanwhile is what the server answers with (the admission is reported by that
    # poll, not by one a poll interval later).
    load = Load(seats=10, lead_s=0.0, rtt_ms=0.0, connections=1, admission_window_s=120.0, per_buyer=True)
    model = Model(load, Fleet(api=1), COSTS)
    model.env.process(_hog_the_connection(model, 5.0))

    def counter_passes_the_buyer_at(t: float) -> Any:
        yield model.env.timeout(t)
        model.counter, model.passed_at = 1, [t]

    model.env.process(counter_passes_the_buyer_at(9.0))
    waiting = model.env.process(model._wait_in_line(0))
    model.env.run(until=waiting | model.env.timeout(60.0))

    # Joined at 5 (after the hog's first request); the first poll was asked within 1-3 s and
    # waited until the hog's second request ended, after 10, with the counter past the buyer.
    seen, passed = model.noticed[0]
    assert passed == 9.0
    assert 10.0 <= seen < 10.5
    assert waiting.value == 9.0 + 120.0


def test_a_seat_map_read_shows_the_seats_as_the_server_read_them() -> None:
    # A seat taken after the server read the map but before its answer arrived is still free
    # in the buyer's copy (it learns otherwise from a 409).
    model = Model(Load(seats=10, rtt_ms=2000.0), Fleet(api=1), COSTS)
    views: list[View] = []

    def read() -> Any:
        views.append((yield from model._read_map()))

    def take_seat_3_at(t: float) -> Any:
        yield model.env.timeout(t)
        assert model._take([3])

    model.env.process(read())
    model.env.process(take_seat_3_at(1.0))  # within the answer's round trip
    model.env.run()

    assert 3 in views[0].seats
    assert 3 not in model.available


def test_a_purchase_keeps_its_pool_connection_through_its_transaction_and_a_commit_waits_for_one() -> None:
    # adapters/postgres: a purchase holds one of the API's pooled connections from BEGIN to
    # COMMIT (its loop turns and retime.lua included); the group commit takes one per batch.
    # With one connection, a hold granted meanwhile commits only after the purchase's last statement.
    costs = {**COSTS, "purchase": {"api": 0.0, "redis": 0.0, "postgres": 0.24, "worker": 0.0}}
    model = Model(Load(rtt_ms=0.0), Fleet(api=1, db_pool=1), costs)
    done: dict[str, float] = {}

    def purchase() -> Any:
        yield from model.request("purchase", lambda: "purchase")
        done["purchase"] = model.env.now

    def hold() -> Any:
        yield model.env.timeout(0.001)  # after the purchase's first statement took the connection
        yield from model.request("hold_201", lambda: "hold_201")
        done["hold"] = model.env.now

    model.env.process(purchase())
    model.env.process(hold())
    model.env.run()

    # The purchase's 9 statements of 24 take 0.24 * 9 / 24 = 0.09 s of PostgreSQL CPU.
    assert done["hold"] >= 0.09
    # Its commit came after the purchase gave the connection back.
    assert done["hold"] > done["purchase"] - 0.001

    free = Model(Load(rtt_ms=0.0), Fleet(api=1, db_pool=2), costs)
    free_done: dict[str, float] = {}

    def free_hold() -> Any:
        yield free.env.timeout(0.001)
        yield from free.request("hold_201", lambda: "hold_201")
        free_done["hold"] = free.env.now

    free.env.process(free.request("purchase", lambda: "purchase"))
    free.env.process(free_hold())
    free.env.run()
    assert free_done["hold"] < 0.09  # with a second connection it did not wait
