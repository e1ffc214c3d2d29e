"""Use cases of the browse path: list events with filters, read one event."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from ticketmaster.domain import cursor as cursors
from ticketmaster.domain.errors import InvalidRequest, NotFound
from ticketmaster.domain.events import EventDetail, EventFilters, EventSummary
from ticketmaster.domain.search import query_words

MAX_LIMIT = 100
MIN_YEAR, MAX_YEAR = 1, 9998


class EventCatalog(Protocol):
    async def list_events(self, filters: EventFilters) -> list[EventSummary]: ...
    async def get_event(self, event_id: str) -> EventDetail | None: ...


def _parse_bound(value: str, name: str, *, end: bool) -> datetime:
    """A date (whole UTC day; an end bound includes that day) or an RFC 3339 time, as a UTC
    instant in the years 1 to 9998 (so the end bound's extra day or microsecond, and the
    database's own conversion, can never overflow)."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            parsed = datetime.combine(day, time(0), tzinfo=UTC)
        else:
            parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"{name} must be a date (YYYY-MM-DD) or an RFC 3339 time", field=name) from None
    if parsed.tzinfo is None:
        raise InvalidRequest(f"{name} must carry a time zone (e.g. Z)", field=name)
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        parsed = datetime.max.replace(tzinfo=UTC)  # out of range either way: refused below
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise InvalidRequest(f"{name} must lie in the years {MIN_YEAR} to {MAX_YEAR}", field=name)
    if len(value) == 10:
        return parsed + timedelta(days=1) if end else parsed
    return parsed + timedelta(microseconds=1) if end else parsed


def build_filters(
    *,
    city: str | None = None,
    on_date: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    q: str | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> EventFilters:
    """Validate raw query parameters into filters (raises InvalidRequest naming the field)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    lower: list[datetime] = []
    upper: list[datetime] = []
    if on_date is not None:
        if len(on_date) != 10:
            raise InvalidRequest("date must be a date (YYYY-MM-DD)", field="date")
        lower.append(_parse_bound(on_date, "date", end=False))
        upper.append(_parse_bound(on_date, "date", end=True))
    if date_from is not None:
        lower.append(_parse_bound(date_from, "dateFrom", end=False))
    if date_to is not None:
        upper.append(_parse_bound(date_to, "dateTo", end=True))
    starts_from = max(lower) if lower else None
    starts_before = min(upper) if upper else None
    if (
        date_from is not None
        and date_to is not None
        and _parse_bound(date_from, "dateFrom", end=False) >= _parse_bound(date_to, "dateTo", end=True)
    ):
        raise InvalidRequest("dateFrom must not be after dateTo", field="dateFrom")
    words: tuple[str, ...] = ()
    if q is not None:
        if len(q) > 200:
            raise InvalidRequest("q must be at most 200 characters", field="q")
        words = tuple(query_words(q))
        if not words and q.strip():
            raise InvalidRequest("q must contain letters or digits", field="q")
    if city is not None and not city.strip():
        raise InvalidRequest("city must not be empty", field="city")
    return EventFilters(
        city=city.strip() if city else None,
        starts_from=starts_from,
        starts_before=starts_before,
        words=words,
        after=cursors.decode(cursor) if cursor else None,
        limit=limit,
    )


async def list_events(catalog: EventCatalog, filters: EventFilters) -> tuple[list[EventSummary], str | None]:
    """One page of events ordered by (datetime, id) and the cursor of the next page."""
    if filters.starts_from and filters.starts_before and filters.starts_from >= filters.starts_before:
        return [], None  # e.g. date=X with dateFrom after X: nothing can match
    page_plus_one = await catalog.list_events(replace(filters, limit=filters.limit + 1))
    page = page_plus_one[: filters.limit]
    more = len(page_plus_one) > filters.limit
    next_cursor = cursors.encode(page[-1].starts_at, page[-1].id) if more else None
    return page, next_cursor


async def get_event(catalog: EventCatalog, event_id: str) -> EventDetail:
    event = await catalog.get_event(event_id)
    if event is None:
        raise NotFound(f"event {event_id!r} does not exist")
    return event
