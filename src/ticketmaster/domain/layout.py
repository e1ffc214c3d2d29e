"""Venue layouts and the per-event facts the hot path needs (pure data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from ticketmaster.domain.seats import seat_id


@dataclass(frozen=True, slots=True)
class SectionLayout:
    id: str
    name: str
    rows: tuple[tuple[str, int], ...]  # (row id, seat count) in order


@dataclass(frozen=True)
class VenueLayout:
    """Sections, rows and seats of a venue; immutable once imported."""

    venue_id: str
    sections: tuple[SectionLayout, ...]

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

    @property
    def seat_count(self) -> int:
        return sum(count for s in self.sections for _, count in s.rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "venueId": self.venue_id,
            "sections": [
                {"id": s.id, "name": s.name, "rows": [[r, c] for r, c in s.rows]} for s in self.sections
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VenueLayout:
        return cls(
            venue_id=data["venueId"],
            sections=tuple(
                SectionLayout(id=s["id"], name=s["name"], rows=tuple((r, int(c)) for r, c in s["rows"]))
                for s in data["sections"]
            ),
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
        )
