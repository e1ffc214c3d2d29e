"""build_filters turns raw query parameters into half-open UTC ranges; list_events pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from ticketmaster.domain import cursor
from ticketmaster.domain.errors import InvalidRequest
from ticketmaster.domain.events import EventDetail, EventFilters, EventSummary
from ticketmaster.services.browse import MAX_LIMIT, build_filters, list_events

D10 = datetime(2026, 5, 10, tzinfo=UTC)
DAY = timedelta(days=1)


def test_no_parameters_mean_no_filters() -> None:
    assert build_filters() == EventFilters(limit=20)


def test_city_is_trimmed_and_blank_is_refused() -> None:
    assert build_filters(city="  New York ").city == "New York"
    with pytest.raises(InvalidRequest) as caught:
        build_filters(city="   ")
    assert caught.value.extra == {"field": "city"}


def test_a_query_without_letters_or_digits_is_refused() -> None:
    with pytest.raises(InvalidRequest) as caught:
        build_filters(q="!!!")
    assert caught.value.extra == {"field": "q"}
    assert build_filters(q="  ").words == ()


def test_date_is_one_whole_utc_day() -> None:
    f = build_filters(on_date="2026-05-10")
    assert (f.starts_from, f.starts_before) == (D10, D10 + DAY)


@pytest.mark.parametrize("bad", ["2026-5-10", "2026-05-10T00:00:00Z", "2026-02-30", "10/05/2026", ""])
def test_a_bad_date_is_refused_naming_it(bad: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        build_filters(on_date=bad)
    assert caught.value.extra == {"field": "date"}


def test_date_bounds_are_inclusive_whole_days() -> None:
    f = build_filters(date_from="2026-05-10", date_to="2026-05-12")
    assert (f.starts_from, f.starts_before) == (D10, D10 + 3 * DAY)

    one_day = build_filters(date_from="2026-05-10", date_to="2026-05-10")
    assert (one_day.starts_from, one_day.starts_before) == (D10, D10 + DAY)

    assert build_filters(date_from="2026-05-10").starts_before is None
    assert build_filters(date_to="2026-05-10").starts_from is None
    assert build_filters(date_to="2026-05-10").starts_before == D10 + DAY


def test_time_bounds_are_inclusive_instants() -> None:
    f = build_filters(date_from="2026-05-10T20:00:00Z", date_to="2026-05-10T22:00:00+02:00")
    at = datetime(2026, 5, 10, 20, tzinfo=UTC)
    assert f.starts_from == at
    assert f.starts_before == at + timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"date_from": "soon"}, "dateFrom"),
        ({"date_from": "2026-05-10T20:00:00"}, "dateFrom"),  # no time zone
        ({"date_to": "2026-13-01"}, "dateTo"),
        ({"date_to": "2026-05-10T20:00:00"}, "dateTo"),
        ({"date_from": "2026-05-11", "date_to": "2026-05-10"}, "dateFrom"),
        ({"date_from": "2026-05-10T20:00:01Z", "date_to": "2026-05-10T20:00:00Z"}, "dateFrom"),
    ],
)
def test_bad_or_reversed_bounds_are_refused_naming_the_field(kwargs: dict[str, str], name: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        build_filters(**kwargs)  # type: ignore[arg-type]
    assert caught.value.extra == {"field": name}


def test_date_and_range_combine_to_their_intersection() -> None:
    f = build_filters(on_date="2026-05-10", date_from="2026-05-01", date_to="2026-05-31")
    assert (f.starts_from, f.starts_before) == (D10, D10 + DAY)

    g = build_filters(on_date="2026-05-10", date_from="2026-05-10T12:00:00Z")
    assert (g.starts_from, g.starts_before) == (D10 + timedelta(hours=12), D10 + DAY)


@pytest.mark.parametrize("limit", [0, -1, MAX_LIMIT + 1, 10_000])
def test_limit_out_of_bounds_is_refused(limit: int) -> None:
    with pytest.raises(InvalidRequest) as caught:
        build_filters(limit=limit)
    assert caught.value.extra == {"field": "limit"}


@pytest.mark.parametrize("limit", [1, 37, MAX_LIMIT])
def test_limit_within_bounds_is_kept(limit: int) -> None:
    assert MAX_LIMIT == 100
    assert build_filters(limit=limit).limit == limit


def test_a_cursor_is_decoded_and_a_bad_one_refused() -> None:
    at = datetime(2026, 5, 10, 20, tzinfo=UTC)
    assert build_filters(cursor=cursor.encode(at, "evt_7")).after == (at, "evt_7")
    with pytest.raises(InvalidRequest) as caught:
        build_filters(cursor="definitely-not-a-cursor")
    assert caught.value.extra == {"field": "cursor"}


def test_q_becomes_folded_words_and_a_long_q_is_refused() -> None:
    assert build_filters(q="Taylor  SWIFT: Eras").words == ("taylor", "swift", "eras")
    assert build_filters(q="").words == ()
    with pytest.raises(InvalidRequest) as caught:
        build_filters(q="x" * 201)
    assert caught.value.extra == {"field": "q"}


# --- list_events over an in-memory catalog (no I/O) ----------------------------------


@dataclass
class MemoryCatalog:
    events: list[EventSummary]
    calls: list[EventFilters] = field(default_factory=list)

    async def list_events(self, filters: EventFilters) -> list[EventSummary]:
        self.calls.append(filters)
        rows = sorted(self.events, key=lambda e: (e.starts_at, e.id))
        if filters.after is not None:
            rows = [e for e in rows if (e.starts_at, e.id) > filters.after]
        return rows[: filters.limit]

    async def get_event(self, event_id: str) -> EventDetail | None:
        return None


def _summaries(n: int) -> list[EventSummary]:
    # Pairs share a start time, so the id breaks the tie.
    return [
        EventSummary(f"evt_{i:02d}", f"Show {i}", D10 + (i // 2) * DAY, "ven_1", "Arena", "NYC")
        for i in range(n)
    ]


async def test_pages_follow_the_cursor_until_it_is_null() -> None:
    catalog = MemoryCatalog(_summaries(7))
    seen: list[str] = []
    filters = build_filters(limit=3)
    pages = 0
    while True:
        page, next_cursor = await list_events(catalog, filters)
        pages += 1
        seen += [e.id for e in page]
        if next_cursor is None:
            break
        filters = build_filters(limit=3, cursor=next_cursor)

    assert seen == [f"evt_{i:02d}" for i in range(7)]
    assert pages == 3
    assert all(call.limit == 4 for call in catalog.calls)  # one extra row tells if more exist


async def test_an_exactly_full_last_page_has_no_next_cursor() -> None:
    page, next_cursor = await list_events(MemoryCatalog(_summaries(3)), build_filters(limit=3))
    assert len(page) == 3
    assert next_cursor is None


async def test_an_empty_range_returns_nothing_without_a_query() -> None:
    catalog = MemoryCatalog(_summaries(3))
    page, next_cursor = await list_events(
        catalog, build_filters(on_date="2026-05-10", date_from="2026-05-11")
    )
    assert (page, next_cursor) == ([], None)
    assert catalog.calls == []


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"on_date": "9999-12-31"}, "date"),
        ({"date_to": "9999-12-31"}, "dateTo"),
        ({"date_from": "9999-12-31"}, "dateFrom"),
        ({"date_to": "9999-12-31T23:59:59.999999Z"}, "dateTo"),
        ({"date_to": "9999-12-31T23:59:59-23:59"}, "dateTo"),
        ({"date_from": "0001-01-01T00:00:00+23:59"}, "dateFrom"),
    ],
)
def test_bounds_outside_the_years_1_to_9998_are_refused_not_overflowed(
    kwargs: dict[str, str], name: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        build_filters(**kwargs)  # type: ignore[arg-type]
    assert caught.value.extra == {"field": name}


def test_bounds_at_the_edges_of_the_range_are_kept_in_utc() -> None:
    f = build_filters(date_from="0001-01-01", date_to="9998-12-31T23:59:59.999999+01:00")
    assert f.starts_from == datetime(1, 1, 1, tzinfo=UTC)
    assert f.starts_before == datetime(9998, 12, 31, 22, 59, 59, 999999, tzinfo=UTC) + timedelta(
        microseconds=1
    )
    assert f.starts_before.tzinfo is UTC
