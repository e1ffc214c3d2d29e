"""The catalog (venues, layouts, events, price tiers) and validation of an import file.

``parse_catalog`` is pure: it checks every field of the file and raises ``CatalogError``
naming the first bad one by its JSON path (``events[2].priceTiers[0].currency``), so an
import can be refused before anything is written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ticketmaster.domain.layout import Geometry, Stage
from ticketmaster.domain.seats import seat_id

ID_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
MAX_SEATS_PER_ROW = 1000
MAX_TICKETS_PER_BUYER = 10_000
MAX_TITLE = 200
# The venue drawing, in venue units (one seat = 1): far more than the largest stadium needs.
MAX_COORDINATE = 100_000
_COORDINATE: tuple[float, float] = (-MAX_COORDINATE, MAX_COORDINATE)
_LENGTH: tuple[float, float] = (1e-3, MAX_COORDINATE)  # a stage has an area
# An event without onSaleAt is on sale from the start.
ALWAYS_ON_SALE = datetime(1970, 1, 1, tzinfo=UTC)


class CatalogError(ValueError):
    """An import file is malformed; ``path`` names the offending field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True, slots=True)
class Row:
    id: str
    seats: int


@dataclass(frozen=True, slots=True)
class Section:
    id: str
    name: str
    rows: tuple[Row, ...]
    geometry: Geometry | None = None  # presentation: may change on re-import


@dataclass(frozen=True, slots=True)
class Venue:
    id: str
    name: str
    city: str
    sections: tuple[Section, ...]
    stage: Stage | None = None  # presentation: may change on re-import

    def seat_rows(self) -> list[tuple[str, str, str, int]]:
        """(seat id, section id, row id, number) for every seat, in layout order."""
        return [
            (seat_id(section.id, row.id, n), section.id, row.id, n)
            for section in self.sections
            for row in section.rows
            for n in range(1, row.seats + 1)
        ]

    @property
    def seat_count(self) -> int:
        return sum(row.seats for section in self.sections for row in section.rows)


@dataclass(frozen=True, slots=True)
class PriceTier:
    id: str
    name: str
    price_cents: int
    currency: str
    sections: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SaleSettings:
    """Waiting-room knobs and the per-buyer limit of one event; None means "the default"."""

    waiting_room: bool = False
    admission_rate_per_minute: int | None = None
    max_admitted: int | None = None
    admission_window_seconds: int | None = None
    max_tickets_per_buyer: int | None = None


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    title: str
    starts_at: datetime
    venue_id: str
    on_sale_at: datetime
    price_tiers: tuple[PriceTier, ...]
    sale: SaleSettings = field(default_factory=SaleSettings)


@dataclass(frozen=True, slots=True)
class Catalog:
    venues: tuple[Venue, ...]
    events: tuple[Event, ...]


# --- validation helpers -------------------------------------------------------------


def _obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CatalogError(path, "must be an object")
    return value


def _list(value: Any, path: str, *, non_empty: bool = True) -> list[Any]:
    if not isinstance(value, list):
        raise CatalogError(path, "must be an array")
    if non_empty and not value:
        raise CatalogError(path, "must not be empty")
    return value


def _field(obj: dict[str, Any], name: str, path: str) -> Any:
    if name not in obj:
        raise CatalogError(f"{path}.{name}", "is required")
    return obj[name]


def _str(obj: dict[str, Any], name: str, path: str, *, max_len: int = 200) -> str:
    value = _field(obj, name, path)
    if not isinstance(value, str) or not value.strip():
        raise CatalogError(f"{path}.{name}", "must be a non-empty string")
    if len(value) > max_len:
        raise CatalogError(f"{path}.{name}", f"must be at most {max_len} characters")
    return value.strip()


def _id(obj: dict[str, Any], name: str, path: str) -> str:
    value = _field(obj, name, path)
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise CatalogError(f"{path}.{name}", "must be 1-64 characters of A-Z a-z 0-9 _ . : -")
    return value


def _int(obj: dict[str, Any], name: str, path: str, *, minimum: int, maximum: int | None = None) -> int:
    value = _field(obj, name, path)
    # bool is an int subclass in Python; JSON true is not a number.
    if not isinstance(value, int) or isinstance(value, bool):
        raise CatalogError(f"{path}.{name}", "must be an integer")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise CatalogError(f"{path}.{name}", f"must be {bound}")
    return value


def _optional_int(obj: dict[str, Any], name: str, path: str) -> int | None:
    if obj.get(name) is None:
        return None
    return _int(obj, name, path, minimum=1)


def _number(obj: dict[str, Any], name: str, path: str, *, low: float, high: float) -> float:
    value = _field(obj, name, path)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise CatalogError(f"{path}.{name}", "must be a number")
    # Python's json module reads NaN and Infinity, which no drawing can place.
    if not math.isfinite(value) or not low <= value <= high:
        raise CatalogError(f"{path}.{name}", f"must be a finite number between {low:g} and {high:g}")
    return float(value)


def _drawing_fields(
    obj: dict[str, Any],
    name: str,
    path: str,
    ranges: dict[str, tuple[float, float]],
    defaults: dict[str, float] | None = None,
) -> dict[str, float] | None:
    """The numbers of a drawing object (``geometry``, ``stage``): only the fields in
    ``ranges``, each finite and within its range (those in ``defaults`` may be left out);
    None when the object is absent."""
    raw = obj.get(name)
    if raw is None:
        return None
    o_path = f"{path}.{name}"
    o_obj = _obj(raw, o_path)
    unknown = sorted(set(o_obj) - set(ranges))
    if unknown:
        raise CatalogError(f"{o_path}.{unknown[0]}", f"is not a known field (known: {', '.join(ranges)})")
    o_obj = {**(defaults or {}), **o_obj}
    return {field: _number(o_obj, field, o_path, low=low, high=high) for field, (low, high) in ranges.items()}


def _geometry(obj: dict[str, Any], path: str) -> Geometry | None:
    """A section's place on the venue drawing; rotation in degrees, 0 when left out."""
    ranges = {"x": _COORDINATE, "y": _COORDINATE, "rotation": (-360.0, 360.0)}
    fields = _drawing_fields(obj, "geometry", path, ranges, {"rotation": 0.0})
    return None if fields is None else Geometry(**fields)


def _stage(obj: dict[str, Any], path: str) -> Stage | None:
    ranges = {"x": _COORDINATE, "y": _COORDINATE, "width": _LENGTH, "height": _LENGTH}
    fields = _drawing_fields(obj, "stage", path, ranges)
    return None if fields is None else Stage(**fields)


def _time(obj: dict[str, Any], name: str, path: str) -> datetime:
    value = _field(obj, name, path)
    try:
        if not isinstance(value, str):
            raise ValueError
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CatalogError(f"{path}.{name}", "must be an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise CatalogError(f"{path}.{name}", "must carry a time zone (e.g. Z)")
    return parsed


def _unique(ids: list[str], path: str, what: str) -> None:
    seen: set[str] = set()
    for index, value in enumerate(ids):
        if value in seen:
            raise CatalogError(f"{path}[{index}].id", f"duplicate {what} id {value!r}")
        seen.add(value)


# --- parsing ------------------------------------------------------------------------


def _parse_venue(raw: Any, path: str) -> Venue:
    obj = _obj(raw, path)
    sections_raw = _list(_field(obj, "sections", path), f"{path}.sections")
    sections: list[Section] = []
    for s_index, s_raw in enumerate(sections_raw):
        s_path = f"{path}.sections[{s_index}]"
        s_obj = _obj(s_raw, s_path)
        rows_raw = _list(_field(s_obj, "rows", s_path), f"{s_path}.rows")
        rows: list[Row] = []
        for r_index, r_raw in enumerate(rows_raw):
            r_path = f"{s_path}.rows[{r_index}]"
            r_obj = _obj(r_raw, r_path)
            rows.append(
                Row(
                    id=_id(r_obj, "id", r_path),
                    seats=_int(r_obj, "seats", r_path, minimum=1, maximum=MAX_SEATS_PER_ROW),
                )
            )
        _unique([r.id for r in rows], f"{s_path}.rows", "row")
        sections.append(
            Section(
                id=_id(s_obj, "id", s_path),
                name=_str(s_obj, "name", s_path),
                rows=tuple(rows),
                geometry=_geometry(s_obj, s_path),
            )
        )
    _unique([s.id for s in sections], f"{path}.sections", "section")
    venue = Venue(
        id=_id(obj, "id", path),
        name=_str(obj, "name", path),
        city=_str(obj, "city", path, max_len=100),
        sections=tuple(sections),
        stage=_stage(obj, path),
    )
    seen: set[str] = set()
    for sid, *_ in venue.seat_rows():
        if sid in seen:
            raise CatalogError(f"{path}.sections", f"seat id {sid!r} would be produced twice")
        seen.add(sid)
    return venue


def _parse_tiers(raw: Any, path: str, section_ids: frozenset[str] | None) -> tuple[PriceTier, ...]:
    tiers: list[PriceTier] = []
    priced: dict[str, str] = {}
    for t_index, t_raw in enumerate(_list(raw, path)):
        t_path = f"{path}[{t_index}]"
        t_obj = _obj(t_raw, t_path)
        currency = _str(t_obj, "currency", t_path)
        if not CURRENCY_PATTERN.fullmatch(currency):
            raise CatalogError(f"{t_path}.currency", "must be a 3-letter upper-case ISO 4217 code")
        sections = _list(_field(t_obj, "sections", t_path), f"{t_path}.sections")
        for i, section in enumerate(sections):
            s_path = f"{t_path}.sections[{i}]"
            if not isinstance(section, str):
                raise CatalogError(s_path, "must be a section id")
            if section_ids is not None and section not in section_ids:
                raise CatalogError(s_path, f"section {section!r} is not in the event's venue")
            if section in priced:
                raise CatalogError(
                    s_path, f"section {section!r} is already priced by tier {priced[section]!r}"
                )
            priced[section] = str(t_obj.get("id"))
        tiers.append(
            PriceTier(
                id=_id(t_obj, "id", t_path),
                name=_str(t_obj, "name", t_path),
                price_cents=_int(t_obj, "priceCents", t_path, minimum=0, maximum=10**9),
                currency=currency,
                sections=tuple(sections),
            )
        )
    _unique([t.id for t in tiers], path, "price tier")
    if section_ids is not None:
        unpriced = sorted(section_ids - priced.keys())
        if unpriced:
            raise CatalogError(path, f"sections {unpriced} of the venue have no price tier")
    return tuple(tiers)


def _parse_event(raw: Any, path: str, venues: dict[str, Venue]) -> Event:
    obj = _obj(raw, path)
    event_id = _id(obj, "id", path)
    venue_id = _id(obj, "venueId", path)
    venue = venues.get(venue_id)
    starts_at = _time(obj, "datetime", path)
    on_sale_at = _time(obj, "onSaleAt", path) if "onSaleAt" in obj else ALWAYS_ON_SALE
    if on_sale_at > starts_at:
        raise CatalogError(f"{path}.onSaleAt", "must not be after the event's datetime")
    waiting_room = obj.get("waitingRoom", False)
    if not isinstance(waiting_room, bool):
        raise CatalogError(f"{path}.waitingRoom", "must be true or false")
    section_ids = frozenset(s.id for s in venue.sections) if venue else None
    return Event(
        id=event_id,
        title=_str(obj, "title", path, max_len=MAX_TITLE),
        starts_at=starts_at,
        venue_id=venue_id,
        on_sale_at=on_sale_at,
        price_tiers=_parse_tiers(_field(obj, "priceTiers", path), f"{path}.priceTiers", section_ids),
        sale=SaleSettings(
            waiting_room=waiting_room,
            admission_rate_per_minute=_optional_int(obj, "admissionRatePerMinute", path),
            max_admitted=_optional_int(obj, "maxAdmitted", path),
            admission_window_seconds=_optional_int(obj, "admissionWindowSeconds", path),
            max_tickets_per_buyer=(
                None
                if obj.get("maxTicketsPerBuyer") is None
                else _int(obj, "maxTicketsPerBuyer", path, minimum=1, maximum=MAX_TICKETS_PER_BUYER)
            ),
        ),
    )


def parse_catalog(data: Any) -> Catalog:
    """Validate a decoded import file. Events may name venues that are not in the file
    (they must then exist already; the import service checks that)."""
    root = _obj(data, "$")
    unknown = sorted(set(root) - {"venues", "events"})
    if unknown:
        raise CatalogError(f"$.{unknown[0]}", "is not a known top-level field")
    venues = [
        _parse_venue(v, f"venues[{i}]")
        for i, v in enumerate(_list(root.get("venues", []), "venues", non_empty=False))
    ]
    _unique([v.id for v in venues], "venues", "venue")
    by_id = {v.id: v for v in venues}
    events = [
        _parse_event(e, f"events[{i}]", by_id)
        for i, e in enumerate(_list(root.get("events", []), "events", non_empty=False))
    ]
    _unique([e.id for e in events], "events", "event")
    return Catalog(venues=tuple(venues), events=tuple(events))


def check_tiers_against_venue(event: Event, venue: Venue, path: str) -> None:
    """Re-run the pricing checks for an event whose venue was only known in the database."""
    raw_tiers = [
        {
            "id": t.id,
            "name": t.name,
            "priceCents": t.price_cents,
            "currency": t.currency,
            "sections": list(t.sections),
        }
        for t in event.price_tiers
    ]
    _parse_tiers(raw_tiers, f"{path}.priceTiers", frozenset(s.id for s in venue.sections))


Progress = Callable[[int], None]
"""Called with the number of seats written since the last call (progress bars)."""


@dataclass
class ImportReport:
    venues_written: int = 0
    seats_written: int = 0
    events_written: int = 0
    events_unchanged: int = 0
