"""Read models of the browse path."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class EventFilters:
    """Browse filters; times are a half-open UTC range [starts_from, starts_before)."""

    city: str | None = None
    starts_from: datetime | None = None
    starts_before: datetime | None = None
    words: tuple[str, ...] = ()
    after: tuple[datetime, str] | None = None
    limit: int = 20


@dataclass(frozen=True, slots=True)
class EventSummary:
    id: str
    title: str
    starts_at: datetime
    venue_id: str
    venue_name: str
    city: str


@dataclass(frozen=True, slots=True)
class PriceTierView:
    id: str
    name: str
    price_cents: int
    currency: str


@dataclass(frozen=True, slots=True)
class EventDetail:
    summary: EventSummary
    price_tiers: tuple[PriceTierView, ...]
    waiting_room: bool
    on_sale_at: datetime
    seat_count: int
