"""Venue layouts and the per-event facts the hot path needs (pure data).

The venue drawing (``Geometry``, ``Stage``) is in venue units: one seat is a 1 x 1 cell,
x grows to the right and y downwards (screen axes). A section's own frame has its origin
at the front-left corner of its first row: seat ``n`` of its row ``r`` (0-based, in import
order) fills the cell from ``((W - k) / 2 + n - 1, r)``, where ``k`` is that row's seat count
and ``W`` the longest row's (rows are centred). ``Geometry`` puts that origin at ``(x, y)``
and turns the section clockwise by ``rotation`` degrees about it, so a venue point is
``(x + lx cos a - ly sin a, y + lx sin a + ly cos a)``; the canvas's
``translate(x, y); rotate(a)``. The stage is an unrotated rectangle, ``(x, y)`` its top-left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from ticketmaster.domain.seats import seat_id


@dataclass(frozen=True, slots=True)
class Geometry:
    """Where a section sits on the venue drawing (see the module docstring)."""

    x: float
    y: float
    rotation: float = 0.0

    def to_json(self) -> dict[str, float]:
        return {"x": self.x, "y": self.y, "rotation": self.rotation}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Geometry | None:
        return None if data is None else cls(float(data["x"]), float(data["y"]), float(data["rotation"]))


@dataclass(frozen=True, slots=True)
class Stage:
    """The stage (or field) of the venue drawing: a rectangle, ``(x, y)`` its top-left."""

    x: float
    y: float
    width: float
    height: float

    def to_json(self) -> dict[str, float]:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Stage | None:
        if data is None:
            return None
        return cls(float(data["x"]), float(data["y"]), float(data["width"]), float(data["height"]))


@dataclass(frozen=True, slots=True)
class SectionLayout:
    id: str
    name: str
    rows: tuple[tuple[str, int], ...]  # (row id, seat count) in order
    geometry: Geometry | None = None


@dataclass(frozen=True, slots=True)
class RankedRow:
    """One row of a venue, ``index`` its place in rank order: every row of the venue,
    section by section in import order (the first section is the best), rows in order."""

    index: int
    section_id: str
    row_id: str
    seats: int

    @property
    def seat_prefix(self) -> str:
        """Every seat id of the row is this prefix and the seat's number."""
        return seat_id(self.section_id, self.row_id, 0)[:-1]

    def seat(self, number: int) -> str:
        return seat_id(self.section_id, self.row_id, number)


@dataclass(frozen=True)
class VenueLayout:
    """Sections, rows and seats of a venue, and its drawing. The seats are immutable once
    imported; names and the drawing may change with a re-import, which raises ``revision``
    (so caches keyed by it never serve an old drawing)."""

    venue_id: str
    sections: tuple[SectionLayout, ...]
    stage: Stage | None = None
    revision: int = 0

    @cached_property
    def section_of(self) -> dict[str, str]:
        """Seat id -> section id, for every seat."""
        return {
            seat_id(s.id, row, n): s.id
            for s in self.sections
            for row, count in s.rows
            for n in range(1, count + 1)
        }

    @cached_property
    def seat_ids(self) -> frozenset[str]:
        return frozenset(self.section_of)

    @cached_property
    def section_rows(self) -> dict[str, tuple[int, int]]:
        """Section id -> the (first, last) indexes of its rows in ``ranked_rows``."""
        spans: dict[str, tuple[int, int]] = {}
        for row in self.ranked_rows:
            first = spans.get(row.section_id, (row.index, row.index))[0]
            spans[row.section_id] = (first, row.index)
        return spans

    @cached_property
    def ranked_rows(self) -> tuple[RankedRow, ...]:
        """Every row, in rank order (best available, domain/best_available.py)."""
        rows: list[RankedRow] = []
        for section in self.sections:
            for row_id, count in section.rows:
                rows.append(RankedRow(len(rows), section.id, row_id, count))
        return tuple(rows)

    @property
    def seat_count(self) -> int:
        return sum(count for s in self.sections for _, count in s.rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "venueId": self.venue_id,
            "revision": self.revision,
            "stage": None if self.stage is None else self.stage.to_json(),
            "sections": [
                {
                    "id": s.id,
                    "name": s.name,
                    "rows": [[r, c] for r, c in s.rows],
                    "geometry": None if s.geometry is None else s.geometry.to_json(),
                }
                for s in self.sections
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VenueLayout:
        return cls(
            venue_id=data["venueId"],
            sections=tuple(
                SectionLayout(
                    id=s["id"],
                    name=s["name"],
                    rows=tuple((r, int(c)) for r, c in s["rows"]),
                    geometry=Geometry.from_json(s["geometry"]),
                )
                for s in data["sections"]
            ),
            stage=Stage.from_json(data["stage"]),
            revision=int(data["revision"]),
        )


@dataclass(frozen=True, slots=True)
class TierPrice:
    id: str
    price_cents: int
    currency: str


@dataclass(frozen=True, slots=True)
class EventInfo:
    """What holding seats of an event needs to know, cached near the gate."""

    event_id: str
    venue_id: str
    on_sale_at: datetime
    waiting_room: bool
    section_tiers: dict[str, str] = field(default_factory=dict)  # section id -> tier id
    tiers: dict[str, TierPrice] = field(default_factory=dict)
    seat_count: int = 0
    admission_rate_per_minute: int | None = None
    max_admitted: int | None = None
    admission_window_seconds: int | None = None
    layout_revision: int = 0  # of the venue's layout (VenueLayout.revision) when read
    max_tickets_per_buyer: int | None = None  # seats held or bought per buyer; None: default

    def to_json(self) -> dict[str, Any]:
        return {
            "eventId": self.event_id,
            "venueId": self.venue_id,
            "onSaleAt": self.on_sale_at.isoformat(),
            "waitingRoom": self.waiting_room,
            "sectionTiers": self.section_tiers,
            "tiers": {k: [t.price_cents, t.currency] for k, t in self.tiers.items()},
            "seatCount": self.seat_count,
            "admission": [self.admission_rate_per_minute, self.max_admitted, self.admission_window_seconds],
            "layoutRevision": self.layout_revision,
            "maxTicketsPerBuyer": self.max_tickets_per_buyer,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EventInfo:
        rate, cap, window = data["admission"]
        return cls(
            event_id=data["eventId"],
            venue_id=data["venueId"],
            on_sale_at=datetime.fromisoformat(data["onSaleAt"]),
            waiting_room=bool(data["waitingRoom"]),
            section_tiers=dict(data["sectionTiers"]),
            tiers={k: TierPrice(id=k, price_cents=int(p), currency=c) for k, (p, c) in data["tiers"].items()},
            seat_count=int(data["seatCount"]),
            admission_rate_per_minute=rate,
            max_admitted=cap,
            admission_window_seconds=window,
            # Written before layouts had revisions: a cached copy expires within a minute.
            layout_revision=int(data.get("layoutRevision", 0)),
            max_tickets_per_buyer=data.get("maxTicketsPerBuyer"),
        )
