"""The availability index's row summary and its check against the seat states
(domain/availability.py), by hand: what fits, what strands, when a summary falls due."""

from __future__ import annotations

from ticketmaster.domain.availability import (
    SOLD_VALUE,
    RowProblem,
    RowSummary,
    StoredRow,
    problems,
    seat_value,
    summarize,
    summary_copy,
)
from ticketmaster.domain.layout import SectionLayout, VenueLayout
from ticketmaster.domain.seats import SeatState

NOW = 1_000_000


def test_a_summary_says_which_counts_fit_and_whether_without_stranding() -> None:
    # free free taken free free free sold free: runs of 2, 3 and 1
    values = [0, 0, NOW + 50, 0, 0, NOW - 1, SOLD_VALUE, 0]

    summary = summarize(values, NOW)

    # 1: the lone seat; 2: the run of 2 exactly; 3: the run of 3 exactly. A pair in the run
    # of 3 strands a seat, but the run of 2 fits a pair cleanly.
    assert summary == RowSummary({1: True, 2: True, 3: True}, due=NOW + 50)
    # Before the hold on seat 6 lapsed, the runs were 2, 2 and 1: a pair fits, three do not.
    assert summarize(values, NOW - 2) == RowSummary({1: True, 2: True}, due=NOW - 1)
    assert summarize([0, 0, 0], NOW) == RowSummary({1: True, 2: False, 3: True})
    assert summarize([SOLD_VALUE], NOW) == RowSummary({})


def test_seat_values_mirror_the_raw_states() -> None:
    assert seat_value(SeatState.parse(None)) == 0
    assert seat_value(SeatState.parse("SOLD")) == SOLD_VALUE
    assert seat_value(SeatState.parse("hold_x|1234")) == 1234


def test_problems_names_each_row_that_disagrees_with_the_seats_or_itself() -> None:
    layout = VenueLayout("v", (SectionLayout("A", "A", (("1", 3), ("2", 2), ("3", 1))),))
    r0, r1, r2 = layout.ranked_rows
    states = {"A-1-2": f"hold_h|{NOW + 10}", "A-2-1": "SOLD"}
    good_r0 = StoredRow("A-1-", (0, NOW + 10, 0), {1: True}, NOW + 10)
    stored = {
        0: good_r0,
        1: StoredRow("A-2-", (0, 0), {1: False, 2: True}, None),  # seat 1 is SOLD in the states
        2: StoredRow("A-3-", (0,), {1: True}, NOW - 5),  # due passed: checked as of NOW - 6
        7: StoredRow("A-9-", (0,), {1: True}, None),
    }
    index_of = {"A-1-": 0, "A-2-": 1, "A-3-": 2}

    found = problems(layout.ranked_rows, states, stored, index_of, NOW)

    assert set(found) == {1, 2, 7}
    assert found[1].seats == ("A-2-1",)
    assert "summary" in str(found[2])  # a due time with no hold on the row
    assert str(found[7]) == "is not a row of the venue"
    healed = {
        0: good_r0,
        1: StoredRow("A-2-", (SOLD_VALUE, 0), {1: True}, None),
        2: StoredRow("A-3-", (0,), {1: True}, None),
    }
    assert problems(layout.ranked_rows, states, healed, index_of, NOW) == {}
    assert problems(layout.ranked_rows, states, {**healed, 2: healed[2]}, {**index_of, "A-3-": 1}, NOW) == {
        2: RowProblem("seats 'A-3-' point at row 1")
    }
    assert (r0.seat_prefix, r1.seats, r2.seat(1)) == ("A-1-", 2, "A-3-1")


def test_the_summary_copy_names_each_count_then_the_due_time_and_is_checked() -> None:
    layout = VenueLayout("v", (SectionLayout("A", "A", (("1", 3),)),))
    fits = {1: True, 2: False, 3: True}
    assert summary_copy(fits, None) == "csc-----|"
    assert summary_copy({1: True}, NOW + 10) == f"c-------|{NOW + 10}"
    row = StoredRow("A-1-", (0, 0, 0), fits, None, copy="csc-----|")
    assert problems(layout.ranked_rows, {}, {0: row}, {"A-1-": 0}, NOW) == {}
    stale = StoredRow("A-1-", (0, 0, 0), fits, None, copy="c-------|")
    assert "summary copy" in str(problems(layout.ranked_rows, {}, {0: stale}, {"A-1-": 0}, NOW)[0])
