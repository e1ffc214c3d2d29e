"""Drawings of the demo venues: a stadium bowl around a field, arenas and theatres with
sections angled around a stage, flat clubs (conventions in domain/layout.py).

Every venue has its stage at the top. A bowl's sections stand on track-shaped rings
round the field or floor, one ring behind another; each section's front edge is a chord
of its ring, its rows running outwards, so neighbours on a curve touch at most at the
front and fan apart behind. Sections come best first (the import order ranks them for
"best available" and the demo's price tiers): the floor, then each ring from the seats
nearest the stage outwards. Names follow the ring and run clockwise from the stage end.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from ticketmaster.domain.layout import Geometry, Stage

Point = tuple[float, float]
# A drawn section: its name and its place; the caller gives ids in this order.
Drawn = tuple[str, Geometry]


@dataclass(frozen=True, slots=True)
class _Ring:
    """A running track's shape centred on (0, 0): round ends of radius ``r`` at the top and
    bottom, joined by straight sides ``2 * h`` long. ``at(s)`` walks it clockwise from the
    top middle by arc length ``s``."""

    r: float
    h: float

    @property
    def length(self) -> float:
        return 4 * self.h + 2 * math.pi * self.r

    def at(self, s: float) -> Point:
        r, h = self.r, self.h
        s %= self.length
        end = math.pi * r  # one round end
        if s < end / 2:  # the right half of the top end
            return self._on_end(-h, -math.pi / 2 + s / r)
        s -= end / 2
        if s < 2 * h:  # down the right side
            return r, -h + s
        s -= 2 * h
        if s < end:  # the bottom end, right to left
            return self._on_end(h, s / r)
        s -= end
        if s < 2 * h:  # up the left side
            return -r, h - s
        return self._on_end(-h, math.pi + (s - 2 * h) / r)  # the left half of the top end

    def _on_end(self, centre_y: float, angle: float) -> Point:
        return self.r * math.cos(angle), centre_y + self.r * math.sin(angle)

    def grown(self, by: float) -> _Ring:
        """The ring ``by`` further out all round."""
        return _Ring(self.r + by, self.h)


def _on_chord(start: Point, end: Point, width: float, centre: Point = (0.0, 0.0)) -> Geometry:
    """A section ``width`` seats wide whose front edge is centred on the chord start-end,
    its rows running away from ``centre``."""
    (x1, y1), (x2, y2) = start, end
    mx, my = (x1 + x2) / 2, (y1 + y2) / 2
    length = math.hypot(x2 - x1, y2 - y1)
    # The rows' direction: perpendicular to the chord, on the side away from the centre.
    nx, ny = (y2 - y1) / length, -(x2 - x1) / length
    if nx * (mx - centre[0]) + ny * (my - centre[1]) < 0:
        nx, ny = -nx, -ny
    angle = math.atan2(-nx, ny)  # the turn that takes the section's +y (its rows) to (nx, ny)
    x, y = mx - width / 2 * math.cos(angle), my - width / 2 * math.sin(angle)
    # Adding 0.0 turns a -0.0 into 0.0, which reads better in the import file.
    return Geometry(round(x, 2) + 0.0, round(y, 2) + 0.0, round(math.degrees(angle), 2) + 0.0)


def _centre(g: Geometry, width: float, depth: float) -> Point:
    """The middle of a placed section ``width`` by ``depth``."""
    cos, sin = math.cos(math.radians(g.rotation)), math.sin(math.radians(g.rotation))
    return g.x + (width * cos - depth * sin) / 2, g.y + (width * sin + depth * cos) / 2


def _ring_sections(ring: _Ring, positions: Iterable[float], width: float, ring_no: int) -> list[Drawn]:
    """Sections centred at the given arc lengths of the ring, named clockwise."""
    return [
        (f"Section {ring_no}{i + 1:02d}", _on_chord(ring.at(s - width / 2), ring.at(s + width / 2), width))
        for i, s in enumerate(sorted(p % ring.length for p in positions))
    ]


def _around(ring: _Ring, count: int) -> list[float]:
    """``count`` arc lengths spread evenly round the whole ring, symmetric left and right."""
    step = ring.length / count
    return [(i + 0.5) * step for i in range(count)]


def _facing_stage(ring: _Ring, count: int, spacing: float) -> list[float]:
    """``count`` arc lengths ``spacing`` apart, centred on the ring's bottom middle (facing
    the stage at the top): a horseshoe open behind the stage."""
    middle = ring.length / 2
    return [middle + (i - (count - 1) / 2) * spacing for i in range(count)]


def _best_first(drawn: list[Drawn], width: float, depth: float, stage: Stage) -> list[Drawn]:
    """Nearest the middle of the stage front first, those behind the stage last (ties:
    left before right)."""
    front = (stage.x + stage.width / 2, stage.y + stage.height)

    def rank(item: Drawn) -> tuple[bool, float, float]:
        cx, cy = _centre(item[1], width, depth)
        behind = cy < stage.y + stage.height / 2
        return behind, round(math.hypot(cx - front[0], cy - front[1]), 1), cx

    return sorted(drawn, key=rank)


def stadium(sections: int, rows: int, seats: int) -> tuple[list[Drawn], Stage]:
    """Two floor sections before a stage at the top of a 136 x 210 field; round it a
    full bowl of two rings with round ends, and an upper tier facing the stage."""
    stage = Stage(-40.0, -100.0, 80.0, 24.0)
    floor = [("Floor A", Geometry(-3.0 - seats, -68.0, 0.0)), ("Floor B", Geometry(3.0, -68.0, 0.0))]
    lower = _Ring(80.0, 37.0)
    middle = lower.grown(rows + 6)
    upper = middle.grown(rows + 6)
    # Each full ring holds as many sections as fit with an aisle of 4 seats; the rest
    # make the upper tier.
    n_lower = int(lower.length // (seats + 4))
    n_middle = int(middle.length // (seats + 4))
    rings = [
        _ring_sections(lower, _around(lower, n_lower), seats, 1),
        _ring_sections(middle, _around(middle, n_middle), seats, 2),
        _ring_sections(upper, _facing_stage(upper, sections - 2 - n_lower - n_middle, seats + 6), seats, 3),
    ]
    return floor + [s for ring in rings for s in _best_first(ring, seats, rows, stage)], stage


def arena(sections: int, rows: int, seats: int) -> tuple[list[Drawn], Stage]:
    """Two floor sections before a stage at the top of a 100 x 150 floor, and a horseshoe
    of two rings with round ends round the floor, open behind the stage."""
    stage = Stage(-30.0, -75.0, 60.0, 16.0)
    floor = [("Floor A", Geometry(-2.0 - seats, -50.0, 0.0)), ("Floor B", Geometry(2.0, -50.0, 0.0))]
    lower = _Ring(58.0, 25.0)
    upper = lower.grown(rows + 5)
    bowl = sections - len(floor)
    n_lower = bowl * 2 // 5
    rings = [
        _ring_sections(lower, _facing_stage(lower, n_lower, seats + 4), seats, 1),
        _ring_sections(upper, _facing_stage(upper, bowl - n_lower, seats + 4), seats, 2),
    ]
    return floor + [s for ring in rings for s in _best_first(ring, seats, rows, stage)], stage


def theatre(sections: int, rows: int, seats: int) -> tuple[list[Drawn], Stage]:
    """Orchestra and, behind it, mezzanine: each a centre block with blocks angled towards
    the stage on both sides, fanned on arcs round a point behind the stage (round its
    front they would turn too steeply)."""
    stage = Stage(-25.0, -14.0, 50.0, 14.0)
    focus, near = 36.0, 50.0  # the fan's centre above the stage front; the front arc's radius
    # Neighbouring blocks' front chords plus a 3-seat aisle, on the front arc.
    step = 2 * math.asin((seats + 3) / 2 / near)
    per_tier = -(-sections // 2)
    drawn: list[Drawn] = []
    for tier, radius in (("Orchestra", near), ("Mezzanine", near + rows + 8)):
        count = min(per_tier, sections - len(drawn))
        tier_drawn: list[Drawn] = []
        for i in range(count):
            # Angle 0 is straight ahead of the stage; positive is to the buyers' right.
            angle = (i - (count - 1) / 2) * step
            half = math.asin(seats / 2 / radius)
            start = (radius * math.sin(angle - half), radius * math.cos(angle - half) - focus)
            end = (radius * math.sin(angle + half), radius * math.cos(angle + half) - focus)
            side = ["Left", "Centre", "Right"][i] if count == 3 else str(i + 1)
            tier_drawn.append((f"{tier} {side}", _on_chord(start, end, seats, (0.0, -focus))))
        drawn += _best_first(tier_drawn, seats, rows, stage)
    return drawn, stage


def club(sections: int, rows: int, seats: int) -> tuple[list[Drawn], Stage]:
    """Straight blocks one behind another, facing a stage as wide as the room."""
    stage = Stage(-seats / 2 - 3, -12.0, seats + 6.0, 8.0)
    names = ["Floor", "Balcony", *(f"Balcony {i}" for i in range(2, sections))]
    return [(names[i], Geometry(-seats / 2, i * (rows + 4.0), 0.0)) for i in range(sections)], stage


DRAWINGS = {"stadium": stadium, "arena": arena, "theatre": theatre, "club": club}
