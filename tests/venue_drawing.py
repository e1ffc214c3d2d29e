"""The venue drawing as shapes (the conventions of domain/layout.py), to test that drawn
sections do not overlap, and to look at a venue: ``python -m tests.venue_drawing DIR``
writes a PNG of every demo venue into DIR (Pillow, a dev dependency)."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path

from ticketmaster.domain.catalog import Section, Venue
from ticketmaster.domain.layout import Geometry

Point = tuple[float, float]


def to_venue(g: Geometry, lx: float, ly: float) -> Point:
    """A point of a section's own frame on the venue drawing."""
    a = math.radians(g.rotation)
    return g.x + lx * math.cos(a) - ly * math.sin(a), g.y + lx * math.sin(a) + ly * math.cos(a)


def outline(section: Section) -> list[Point]:
    """The corners of the block a placed section covers: its longest row wide, its rows deep."""
    assert section.geometry is not None
    width, depth = max(r.seats for r in section.rows), len(section.rows)
    return [to_venue(section.geometry, x, y) for x, y in ((0, 0), (width, 0), (width, depth), (0, depth))]


def seat_cells(section: Section) -> list[list[Point]]:
    """Each seat's 1 x 1 cell, row by row (rows centred on the longest)."""
    assert section.geometry is not None
    width = max(r.seats for r in section.rows)
    cells = []
    for r, row in enumerate(section.rows):
        left = (width - row.seats) / 2
        for n in range(row.seats):
            x = left + n
            corners = ((x, r), (x + 1, r), (x + 1, r + 1), (x, r + 1))
            cells.append([to_venue(section.geometry, cx, cy) for cx, cy in corners])
    return cells


def overlap(first: Sequence[Point], second: Sequence[Point], margin: float = 1e-6) -> bool:
    """Whether two convex polygons share more than a boundary (separating axis test)."""
    for poly in (first, second):
        for i, (x1, y1) in enumerate(poly):
            x2, y2 = poly[(i + 1) % len(poly)]
            axis = (y1 - y2, x2 - x1)
            a = [axis[0] * x + axis[1] * y for x, y in first]
            b = [axis[0] * x + axis[1] * y for x, y in second]
            scale = math.hypot(*axis)
            if max(a) <= min(b) + margin * scale or max(b) <= min(a) + margin * scale:
                return False
    return True


def stage_outline(venue: Venue) -> list[Point]:
    assert venue.stage is not None
    s = venue.stage
    return [(s.x, s.y), (s.x + s.width, s.y), (s.x + s.width, s.y + s.height), (s.x, s.y + s.height)]


def draw(venue: Venue, path: Path, scale: float = 3.0) -> None:
    """A PNG of the venue: stage in grey, each section's seats in its own colour, and its
    name at its first seat."""
    from PIL import Image, ImageDraw

    shapes = [outline(s) for s in venue.sections if s.geometry is not None]
    if venue.stage is not None:
        shapes.append(stage_outline(venue))
    xs = [x for shape in shapes for x, _ in shape]
    ys = [y for shape in shapes for _, y in shape]
    pad = 10
    left, top = min(xs) - pad, min(ys) - pad
    size = (int((max(xs) - left + pad) * scale), int((max(ys) - top + pad) * scale))
    image = Image.new("RGB", size, "white")
    pen = ImageDraw.Draw(image)

    def px(points: Sequence[Point]) -> list[Point]:
        return [((x - left) * scale, (y - top) * scale) for x, y in points]

    if venue.stage is not None:
        pen.polygon(px(stage_outline(venue)), fill=(90, 90, 90))
    for i, section in enumerate(venue.sections):
        if section.geometry is None:
            continue
        hue = (i * 0.61803) % 1
        colour = tuple(int(160 + 80 * math.sin(2 * math.pi * (hue + k / 3))) for k in range(3))
        pen.polygon(px(outline(section)), outline=(0, 0, 0))
        for cell in seat_cells(section):
            pen.polygon(px(cell), fill=colour)
        pen.text(px([to_venue(section.geometry, 1, 1)])[0], f"{section.id} {section.name}", fill=(0, 0, 0))
    image.save(path)


def main(argv: list[str]) -> int:
    from ticketmaster.services.demo import demo_catalog

    out = Path(argv[1] if len(argv) > 1 else ".")
    out.mkdir(parents=True, exist_ok=True)
    for venue in demo_catalog(events=12).venues:
        draw(venue, out / f"{venue.id}.png")
        print(out / f"{venue.id}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
