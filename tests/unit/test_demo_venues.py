"""The demo venues are drawn like venues: every section placed, none overlapping another
or the stage, the best-ranked section nearest the stage, and the seats exactly those
the README's examples and the benchmarks name."""

from __future__ import annotations

import math

import pytest
from bench import holds

from tests.venue_drawing import outline, overlap, stage_outline
from ticketmaster.domain.catalog import Section, Venue
from ticketmaster.services.demo import demo_catalog

VENUES = demo_catalog(events=12).venues


def centre(section: Section) -> tuple[float, float]:
    corners = outline(section)
    return sum(x for x, _ in corners) / 4, sum(y for _, y in corners) / 4


@pytest.mark.parametrize("venue", VENUES, ids=[v.id for v in VENUES])
def test_every_section_is_placed_and_none_overlaps_another_or_the_stage(venue: Venue) -> None:
    assert venue.stage is not None
    assert all(s.geometry is not None for s in venue.sections)
    shapes = [outline(s) for s in venue.sections]
    stage = stage_outline(venue)

    crossing = [
        (venue.sections[i].id, venue.sections[j].id)
        for i in range(len(shapes))
        for j in range(i)
        if overlap(shapes[i], shapes[j])
    ]
    on_stage = [s.id for s, shape in zip(venue.sections, shapes, strict=True) if overlap(shape, stage)]

    assert crossing == []
    assert on_stage == []


@pytest.mark.parametrize("venue", VENUES, ids=[v.id for v in VENUES])
def test_the_best_ranked_section_is_the_nearest_to_the_stage(venue: Venue) -> None:
    assert venue.stage is not None
    front = (venue.stage.x + venue.stage.width / 2, venue.stage.y + venue.stage.height)

    def distance(section: Section) -> float:
        x, y = centre(section)
        return math.hypot(x - front[0], y - front[1])

    first = distance(venue.sections[0])
    assert all(first <= distance(s) + 1e-6 for s in venue.sections)


@pytest.mark.parametrize("venue", VENUES, ids=[v.id for v in VENUES])
def test_every_section_faces_the_stage(venue: Venue) -> None:
    """A section's rows run away from the stage: its front row is nearer the stage's
    middle than its back row."""
    assert venue.stage is not None
    middle = (venue.stage.x + venue.stage.width / 2, venue.stage.y + venue.stage.height / 2)
    for section in venue.sections:
        front_left, front_right, back_right, back_left = outline(section)
        front = ((front_left[0] + front_right[0]) / 2, (front_left[1] + front_right[1]) / 2)
        back = ((back_left[0] + back_right[0]) / 2, (back_left[1] + back_right[1]) / 2)
        assert math.dist(front, middle) < math.dist(back, middle), section


def test_the_stadium_bowl_surrounds_its_field() -> None:
    stadium = next(v for v in VENUES if v.id == "ven_empire_stadium")
    assert stadium.stage is not None
    centres = [centre(s) for s in stadium.sections[2:]]  # the bowl, without the floor
    stage_x = stadium.stage.x + stadium.stage.width / 2
    # Sections on all four sides of the stage and field, and turned every which way.
    assert min(y for _, y in centres) < stadium.stage.y
    assert max(y for _, y in centres) > stadium.stage.y + 150
    assert min(x for x, _ in centres) < stage_x - 100 < stage_x + 100 < max(x for x, _ in centres)
    assert len({round(s.geometry.rotation) for s in stadium.sections if s.geometry}) >= 12


def test_names_are_unique_within_a_venue() -> None:
    for venue in VENUES:
        names = [s.name for s in venue.sections]
        assert len(set(names)) == len(names), venue.id


def test_seat_ids_stay_those_that_the_readme_and_the_benchmarks_use() -> None:
    by_id = {v.id: v for v in VENUES}
    stadium = by_id[holds.VENUE_ID]
    assert stadium.seat_count == 52_000
    assert [s.id for s in stadium.sections] == [f"s{n:02d}" for n in range(1, holds.SECTIONS + 1)]
    for section in stadium.sections:
        assert "".join(r.id for r in section.rows) == holds.ROWS
        assert {r.seats for r in section.rows} == {holds.SEATS_PER_ROW}
    # README: a hold of s01-B-1 and s01-B-2 at evt_0002.
    readme_event = next(e for e in demo_catalog().events if e.id == "evt_0002")
    seats = {seat for seat, *_ in by_id[readme_event.venue_id].seat_rows()}
    assert {"s01-B-1", "s01-B-2"} <= seats


def test_the_overlap_check_tells_touching_from_crossing() -> None:
    square = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
    beside = [(1.0, 0.0), (2.0, 0.0), (2.0, 1.0), (1.0, 1.0)]
    into = [(0.9, 0.5), (1.9, 0.5), (1.9, 1.5), (0.9, 1.5)]
    # A diamond whose bounding box meets the square's, but which does not reach it.
    diamond = [(1.5, 1.0), (2.0, 1.5), (1.5, 2.0), (1.0, 1.5)]
    assert not overlap(square, beside)
    assert overlap(square, into)
    assert not overlap(square, diamond)
    assert overlap(square, [(0.5, 0.5), (1.5, 0.5), (1.5, 1.5), (0.5, 1.5)])
