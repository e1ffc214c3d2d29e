"""The best-available rule (domain/best_available.py) on hand-worked rows: rank, the
no-stranded-seat preference, ties, filters, one-by-one choices; and the request's parsing
and fingerprint. Rows are drawn as strings, one character per seat: "." available, "x"
taken."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ticketmaster.domain.best_available import (
    BestAvailable,
    SeatSearch,
    allowed_sections,
    block_distance,
    choose,
    parse_best,
    row_ranges,
    strands,
)
from ticketmaster.domain.errors import InvalidRequest
from ticketmaster.domain.layout import EventInfo, SectionLayout, TierPrice, VenueLayout


def venue(*sections: tuple[str, list[str]]) -> tuple[VenueLayout, dict[int, list[bool]]]:
    """A layout of sections (id, drawn rows) and the availability the drawing says."""
    layout = VenueLayout(
        "ven_1",
        tuple(
            SectionLayout(sid, sid, tuple((f"R{i}", len(row)) for i, row in enumerate(rows)))
            for sid, rows in sections
        ),
    )
    drawn = [row for _, rows in sections for row in rows]
    return layout, {i: [c == "." for c in row] for i, row in enumerate(drawn)}


def best(layout: VenueLayout, free: dict[int, list[bool]], count: int, *, adjacent: bool = True) -> list[str]:
    rows = layout.ranked_rows
    chosen = choose(rows, free, SeatSearch(count, adjacent, ((0, len(rows) - 1),)))
    return list(chosen or ())


# --- adjacent choices -----------------------------------------------------------------------


def test_an_empty_row_gives_the_block_centred_on_its_middle() -> None:
    layout, free = venue(("A", ["........."]))  # 9 seats: the middle is seat 5

    assert best(layout, free, 1) == ["A-R0-5"]
    assert best(layout, free, 3) == ["A-R0-4", "A-R0-5", "A-R0-6"]
    # An even block has no seat on the middle: 4-5 and 5-6 are equally close; lower first.
    assert best(layout, free, 2) == ["A-R0-4", "A-R0-5"]


def test_the_first_section_and_row_beat_a_better_centred_block_further_back() -> None:
    layout, free = venue(("A", ["xxxx.x.", "..x...."]), ("B", ["......."]))

    # Row A-R0 has no pair; A-R1 has pairs at 4-5 (centre 4.5), 5-6 and 6-7, 1-2: it ranks
    # before every block of section B, even B's perfectly centred 3-4-5.
    assert best(layout, free, 2) == ["A-R1-4", "A-R1-5"]
    assert best(layout, free, 1) == ["A-R0-5"]


def test_a_choice_that_strands_no_seat_beats_a_closer_one_that_does() -> None:
    layout, free = venue(("A", ["x......"]))  # 7 seats, seat 1 taken: the middle is seat 4

    # 3-4 is as close to the middle as 4-5 and has the lower number, but it would leave
    # seat 2 alone between seat 1 (taken) and the block.
    assert strands(free[0], 3, 2)
    assert not strands(free[0], 4, 2)
    assert best(layout, free, 2) == ["A-R0-4", "A-R0-5"]


def test_a_worse_row_wins_when_every_choice_in_the_better_one_strands_a_seat() -> None:
    layout, free = venue(("A", ["...", "...."]))

    # In R0 (3 seats) a pair leaves one seat alone at either end. R1 has 1-2 and 3-4.
    assert best(layout, free, 2) == ["A-R1-1", "A-R1-2"]


def test_when_every_fitting_choice_strands_a_seat_the_best_ranked_of_them_wins() -> None:
    layout, free = venue(("A", ["xx...x", "..."]))

    # R0: 3-4 strands 5, 4-5 strands 3; R1: 1-2 strands 3, 2-3 strands 1. All strand: R0
    # ranks first, and 3-4 (centre 3.5) is the middle of a 6-seat row.
    assert best(layout, free, 2) == ["A-R0-3", "A-R0-4"]


def test_a_block_that_fills_a_gap_exactly_strands_nothing() -> None:
    layout, free = venue(("A", ["x...x....x"]))

    # 2-4 fills the gap between the taken seats 1 and 5; 6-8 would strand seat 9 and 7-9
    # seat 6. The gap's fit is further from the middle (5.5) than 6-8 yet wins.
    assert best(layout, free, 3) == ["A-R0-2", "A-R0-3", "A-R0-4"]


def test_a_request_for_one_seat_avoids_stranding_too() -> None:
    layout, free = venue(("A", ["x...."]))

    # Seat 3 is the middle, but would leave seat 2 alone beside the taken seat 1; seats 2
    # and 4 are as far from the middle, and 4 would strand seat 5.
    assert best(layout, free, 1) == ["A-R0-2"]


def test_nothing_fits_when_no_row_has_that_many_adjacent_seats() -> None:
    layout, free = venue(("A", ["..x..", ".x.x."]))

    assert best(layout, free, 3) == []
    assert best(layout, free, 2) == ["A-R0-1", "A-R0-2"]


# --- one by one -----------------------------------------------------------------------------


def test_one_by_one_takes_the_best_ranked_seats_across_rows() -> None:
    layout, free = venue(("A", ["x.x.x", "....."]))

    # R0's free seats 2 and 4 are equally far from the middle (3): lower first. Then R1's
    # middle seat.
    assert best(layout, free, 3, adjacent=False) == ["A-R0-2", "A-R0-4", "A-R1-3"]
    assert best(layout, free, 7, adjacent=False) == [
        "A-R0-2",
        "A-R0-4",
        "A-R1-3",
        "A-R1-2",
        "A-R1-4",
        "A-R1-1",
        "A-R1-5",
    ]
    assert best(layout, free, 8, adjacent=False) == []


def test_block_distance_is_twice_the_distance_of_the_centre() -> None:
    assert block_distance(5, 1, 9) == 0
    assert block_distance(4, 2, 9) == 1  # centre 4.5, middle 5
    assert block_distance(1, 2, 9) == 7  # centre 1.5


# --- filters --------------------------------------------------------------------------------


def event_info(tiers: dict[str, list[str]]) -> EventInfo:
    return EventInfo(
        event_id="evt_1",
        venue_id="ven_1",
        on_sale_at=datetime(2026, 1, 1, tzinfo=UTC),
        waiting_room=False,
        section_tiers={s: t for t, sections in tiers.items() for s in sections},
        tiers={t: TierPrice(t, 100, "USD") for t in tiers},
    )


def test_filters_keep_the_sections_both_allow_as_ranges_of_rows() -> None:
    layout, free = venue(("A", ["...", "..."]), ("B", ["..."]), ("C", ["...", "..."]))
    info = event_info({"front": ["A"], "back": ["B", "C"]})

    back = allowed_sections(parse_best({"count": 1, "priceTierIds": ["back"]}), info, layout)
    both = allowed_sections(
        parse_best({"count": 1, "priceTierIds": ["back"], "sectionIds": ["C", "A"]}), info, layout
    )
    front_c = allowed_sections(
        parse_best({"count": 1, "priceTierIds": ["front"], "sectionIds": ["C"]}), info, layout
    )
    split = allowed_sections(parse_best({"count": 1, "sectionIds": ["A", "C"]}), info, layout)

    assert back == {"B", "C"}
    assert both == {"C"}
    assert front_c == set()
    assert row_ranges(layout, back) == ((2, 4),)
    assert row_ranges(layout, split) == ((0, 1), (3, 4))
    assert row_ranges(layout, front_c) == ()
    search = SeatSearch(2, True, row_ranges(layout, back))
    assert choose(layout.ranked_rows, free, search) == ("B-R0-1", "B-R0-2")
    assert choose(layout.ranked_rows, free, SeatSearch(1, True, ())) is None


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        ({"count": 1, "priceTierIds": ["nope"]}, "best.priceTierIds"),
        ({"count": 1, "sectionIds": ["A", "Z"]}, "best.sectionIds"),
    ],
)
def test_an_unknown_tier_or_section_is_invalid(request_body: dict[str, object], field: str) -> None:
    layout, _ = venue(("A", ["..."]))
    with pytest.raises(InvalidRequest) as refused:
        allowed_sections(parse_best(request_body), event_info({"t": ["A"]}), layout)
    assert refused.value.extra["field"] == field


# --- the request ----------------------------------------------------------------------------


def test_defaults_and_order_do_not_change_the_request_or_its_fingerprint() -> None:
    plain = parse_best({"count": 2})
    spelled_out = parse_best({"count": 2, "adjacent": True, "priceTierIds": [], "sectionIds": None})
    shuffled = parse_best({"count": 2, "sectionIds": ["b", "a", "b"]})

    assert plain == spelled_out == BestAvailable(2)
    assert shuffled.section_ids == ("a", "b")
    assert plain.fingerprint("evt_1") == spelled_out.fingerprint("evt_1")
    assert shuffled.fingerprint("evt_1") == parse_best({"count": 2, "sectionIds": ["a", "b"]}).fingerprint(
        "evt_1"
    )
    assert (
        len(
            {
                plain.fingerprint("evt_1"),
                plain.fingerprint("evt_2"),
                shuffled.fingerprint("evt_1"),
                parse_best({"count": 3}).fingerprint("evt_1"),
                parse_best({"count": 2, "adjacent": False}).fingerprint("evt_1"),
            }
        )
        == 5
    )


@pytest.mark.parametrize(
    "raw",
    [
        None,
        [],
        {},
        {"count": 0},
        {"count": 9},
        {"count": "2"},
        {"count": True},
        {"count": 2.0},
        {"count": 2, "adjacent": "yes"},
        {"count": 2, "priceTierIds": "pt_1"},
        {"count": 2, "sectionIds": [1]},
    ],
)
def test_a_malformed_best_request_is_invalid(raw: object) -> None:
    with pytest.raises(InvalidRequest):
        parse_best(raw)
