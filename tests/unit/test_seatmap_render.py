"""Incremental seat-map rendering: after any sequence of snapshots or change-log replays
the segmented body, its gzip member and its ETag/freshness equal what a naive render of
the states gives."""

from __future__ import annotations

import gzip
import math
import zlib
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ticketmaster.domain.gate import SeatChanges
from ticketmaster.domain.layout import EventInfo, Geometry, SectionLayout, Stage, VenueLayout
from ticketmaster.services.crc32 import multmodp, shift
from ticketmaster.services.seat_map import (
    RenderedMap,
    _SegmentedBody,
    _template,
)

LAYOUT = VenueLayout(
    "ven_1",
    (
        SectionLayout("A", 'Floor "A"', (("1", 12), ("2", 7)), Geometry(-6.5, 20.0, 0.0)),
        SectionLayout("B", "Balcón", (("AA", 30),), Geometry(40.25, -3.0, -37.5)),
        SectionLayout("C", "Box", (("1", 1),)),  # no geometry: the app places it
        SectionLayout("D", "Unpriced", (("X", 25), ("Y", 25)), Geometry(0.0, 0.0, 180.0)),
    ),
    stage=Stage(-10.0, -2.5, 40.0, 12.0),
    revision=3,
)
INFO = EventInfo(
    "evt_1", "ven_1", datetime(2030, 1, 1, tzinfo=UTC), False, {"A": "pt_1", "B": "pt_2", "C": "pt_1"}
)
SEATS = sorted(LAYOUT.seat_ids)
T0 = 1_900_000_000_000

# A seat's next raw state: AVAILABLE (absent), HELD until an offset from now (past ones have
# lapsed), SOLD, or a malformed hold.
_raw_state = st.one_of(
    st.none(),
    st.integers(-5_000, 5_000).map(lambda offset: ("HELD", offset)),
    st.just(("SOLD", 0)),
    st.just(("JUNK", 0)),
)
_step = st.tuples(
    st.lists(st.tuples(st.sampled_from([*SEATS, "Z-9-9"]), _raw_state), max_size=12),
    st.integers(-300, 3_000),  # the clock moves, now and then backwards
)


def naive(states: dict[str, str], now_ms: int) -> tuple[dict[str, Any], int, float]:
    """The map, held count and earliest live expiry, computed from scratch."""
    status: dict[str, str] = {}
    held, earliest = 0, math.inf
    for seat, raw in states.items():
        if seat not in LAYOUT.seat_ids:  # a state the layout does not know is ignored
            continue
        if raw == "SOLD":
            status[seat] = "SOLD"
            continue
        exp_text = raw.rpartition("|")[2]
        exp = int(exp_text) if exp_text.isdigit() else 0
        if exp > now_ms:
            status[seat] = "HELD"
            held += 1
            earliest = min(earliest, exp)
    sections = [
        {
            "id": s.id,
            "name": s.name,
            "geometry": None
            if s.geometry is None
            else {"x": s.geometry.x, "y": s.geometry.y, "rotation": s.geometry.rotation},
            "seats": [
                {
                    "id": f"{s.id}-{row}-{n}",
                    "row": row,
                    "number": n,
                    "status": status.get(f"{s.id}-{row}-{n}", "AVAILABLE"),
                    "priceTierId": INFO.section_tiers.get(s.id),
                }
                for row, count in s.rows
                for n in range(1, count + 1)
            ],
        }
        for s in LAYOUT.sections
    ]
    stage = LAYOUT.stage
    assert stage is not None
    drawing = {"x": stage.x, "y": stage.y, "width": stage.width, "height": stage.height}
    return {"eventId": "evt_1", "stage": drawing, "sections": sections, "version": 0}, held, earliest


def template_tag(layout: VenueLayout, info: EventInfo) -> str:
    """The ETag's last part: the CRC-32 of the all-AVAILABLE body without its version, so
    every process gives every render of one template the same tag."""
    body = from_snapshot(_SegmentedBody(_template("evt_1", layout, info, 1 << 20)), 0, {}, T0).body
    tail = b',"version":0}'
    assert body.endswith(tail)
    return f"{zlib.crc32(body[: -len(tail)]):08x}"


def check(rendered: RenderedMap, version: int, states: dict[str, str], now_ms: int) -> None:
    expected, held, earliest = naive(states, now_ms)
    expected["version"] = version
    body = rendered.body
    assert orjson.loads(body) == expected
    assert rendered.etag == f'"{version}.{held}.{template_tag(LAYOUT, INFO)}"'
    assert rendered.fresh_until_ms == earliest
    assert rendered.gzipped is not None
    assert gzip.decompress(rendered.gzipped) == body
    member = zlib.decompressobj(wbits=31)  # what httpx does
    assert member.decompress(rendered.gzipped) + member.flush() == body
    assert member.eof
    assert member.unused_data == b""


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(_step, min_size=1, max_size=12), segment_bytes=st.sampled_from([1, 200, 1_000, 1 << 20])
)
def test_every_incremental_render_equals_a_render_from_scratch(
    steps: list[tuple[list[tuple[str, tuple[str, int] | None]], int]], segment_bytes: int
) -> None:
    body = _SegmentedBody(_template("evt_1", LAYOUT, INFO, segment_bytes))
    states: dict[str, str] = {}
    now = T0
    for version, (changes, tick) in enumerate(steps):
        now += tick
        for seat, state in changes:
            if state is None:
                states.pop(seat, None)
            elif state[0] == "HELD":
                states[seat] = f"hold_{version}|{now + state[1]}"
            elif state[0] == "SOLD":
                states[seat] = "SOLD"
            else:
                states[seat] = "hold_x|soon"
        snapshot = dict(states)  # each snapshot is a new dict, as the gate returns them
        check(from_snapshot(body, version, snapshot, now), version, snapshot, now)


def from_snapshot(body: _SegmentedBody, version: int, states: dict[str, str], now_ms: int) -> RenderedMap:
    """What the renderer does with ``snapshot()``'s answer, on the calling thread."""
    body.seats.update(states, now_ms, version)
    body.install(body.patch(body.changed()))
    return body.emit(version)


def from_log(body: _SegmentedBody, changes: SeatChanges) -> RenderedMap:
    """What the renderer does with ``changes_since``'s answer."""
    body.seats.apply(changes)
    body.install(body.patch(body.changed()))
    return body.emit(changes.version)


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.tuples(_step, st.booleans()), min_size=1, max_size=12),
    segment_bytes=st.sampled_from([1, 200, 1_000, 1 << 20]),
)
def test_renders_from_the_change_log_equal_renders_from_scratch(
    steps: list[tuple[tuple[list[tuple[str, tuple[str, int] | None]], int], bool]], segment_bytes: int
) -> None:
    body = _SegmentedBody(_template("evt_1", LAYOUT, INFO, segment_bytes))
    states: dict[str, str] = {}
    now = T0
    check(from_snapshot(body, 0, {}, now), 0, {}, now)
    for version, ((changes, tick), snapshot) in enumerate(steps, start=1):
        now += tick
        entry: dict[str, str] = {}
        for seat, state in changes:
            if state is None:
                raw = ""
            elif state[0] == "HELD":
                raw = f"hold_{version}|{now + state[1]}"
            else:
                raw = "SOLD" if state[0] == "SOLD" else "hold_x|soon"
            if states.get(seat, "") != raw:
                entry[seat] = raw
            if raw:
                states[seat] = raw
            else:
                states.pop(seat, None)
        if snapshot:
            rendered = from_snapshot(body, version, dict(states), now)
        else:
            rendered = from_log(body, SeatChanges(version - 1, version, ((version, entry),), now))
        check(rendered, version, states, now)


def test_changes_from_another_version_are_refused() -> None:
    body = _SegmentedBody(_template("evt_1", LAYOUT, INFO, 200))
    from_snapshot(body, 5, {"A-1-1": "SOLD"}, T0)

    with pytest.raises(ValueError, match="since 4"):
        body.seats.apply(SeatChanges(4, 6, ((5, {}), (6, {"A-1-2": "SOLD"})), T0))
    # Several entries, the last word per seat wins; the seats not named are kept.
    rendered = from_log(body, SeatChanges(5, 7, ((6, {"A-1-2": "SOLD"}), (7, {"A-1-2": ""})), T0))
    check(rendered, 7, {"A-1-1": "SOLD"}, T0)


def test_holds_lapse_by_time_alone() -> None:
    body = _SegmentedBody(_template("evt_1", LAYOUT, INFO, 200))
    states = {"A-1-1": f"h1|{T0 + 10}", "B-AA-30": f"h2|{T0 + 20}", "C-1-1": "SOLD"}
    for now in (T0, T0 + 10, T0 + 15, T0 + 20, T0 + 5):
        check(from_snapshot(body, 7, dict(states), now), 7, states, now)


def test_a_hold_of_adjacent_seats_recompresses_one_segment() -> None:
    body = _SegmentedBody(_template("evt_1", LAYOUT, INFO, 1_000))
    from_snapshot(body, 1, {}, T0)
    body.seats.update({f"B-AA-{n}": f"h1|{T0 + 60_000}" for n in (1, 2, 3)}, T0)
    changed = body.changed()
    assert len(changed) == 1
    assert len(changed[0][1]) == 3


def test_small_maps_are_not_gzipped() -> None:
    tiny = VenueLayout("ven_2", (SectionLayout("A", "A", (("1", 2),)),))
    rendered = from_snapshot(_SegmentedBody(_template("evt_1", tiny, INFO)), 3, {"A-1-2": "SOLD"}, T0)
    assert rendered.gzipped is None
    body = orjson.loads(rendered.body)
    assert [s["status"] for s in body["sections"][0]["seats"]] == ["AVAILABLE", "SOLD"]
    # A venue without a drawing says so in both places rather than leaving the fields out.
    assert body["stage"] is None
    assert body["sections"][0]["geometry"] is None


@given(first=st.binary(max_size=300), second=st.binary(max_size=300))
def test_crc_combination_matches_zlib(first: bytes, second: bytes) -> None:
    combined = multmodp(shift(len(second)), zlib.crc32(first)) ^ zlib.crc32(second)
    assert combined == zlib.crc32(first + second)


def test_a_render_abandoned_before_installing_its_segments_leaves_nothing_behind() -> None:
    body = _SegmentedBody(_template("evt_1", LAYOUT, INFO, 200))
    from_snapshot(body, 1, {}, T0)
    abandoned = {"A-1-1": "SOLD", "D-Y-25": f"h1|{T0 + 100}"}
    body.seats.update(abandoned, T0)
    body.patch(body.changed())  # computed (in a thread) but cancelled: never installed
    states = {**abandoned, "B-AA-1": "SOLD"}
    check(from_snapshot(body, 2, states, T0 + 1), 2, states, T0 + 1)


def test_the_etag_changes_with_the_drawing_the_names_and_the_pricing() -> None:
    """A re-import may change them without any seat changing (same version, same holds):
    a client's cached map must not be confirmed by a 304 then."""
    moved = replace(
        LAYOUT,
        sections=(replace(LAYOUT.sections[0], geometry=Geometry(-6.5, 21.0, 0.0)), *LAYOUT.sections[1:]),
    )
    renamed = replace(LAYOUT, sections=(replace(LAYOUT.sections[0], name="Floor"), *LAYOUT.sections[1:]))
    repriced = replace(INFO, section_tiers={**INFO.section_tiers, "C": "pt_2"})
    tags = {
        template_tag(LAYOUT, INFO),
        template_tag(replace(LAYOUT, stage=None), INFO),
        template_tag(replace(LAYOUT, stage=Stage(-10.0, -2.5, 40.0, 13.0)), INFO),
        template_tag(moved, INFO),
        template_tag(renamed, INFO),
        template_tag(LAYOUT, repriced),
    }
    assert len(tags) == 6
    # The same inputs give the same tag however the body is cut into segments.
    assert {template_tag(LAYOUT, INFO)} == {
        from_snapshot(_SegmentedBody(_template("evt_1", LAYOUT, INFO, size)), 0, {}, T0)
        .etag.split(".", 2)[2]
        .strip('"')
        for size in (1, 200, 1_000)
    }
