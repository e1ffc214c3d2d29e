"""The import use case on the real database: all-or-nothing, idempotent, layouts frozen."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import pytest

from tests import factories
from tests.snapshots import dump_tables
from ticketmaster.adapters.postgres.catalog import PostgresCatalogStore
from ticketmaster.domain.catalog import (
    Catalog,
    CatalogError,
    Event,
    ImportReport,
    Section,
    Venue,
    parse_catalog,
)
from ticketmaster.domain.seats import seat_id
from ticketmaster.services.catalog_import import import_catalog
from ticketmaster.services.demo import demo_catalog

Doc = dict[str, Any]


async def run_import(pool: asyncpg.Pool, data: Doc) -> ImportReport:
    return await import_catalog(PostgresCatalogStore(pool), parse_catalog(copy.deepcopy(data)))


async def refused(pool: asyncpg.Pool, data: Doc) -> CatalogError:
    """Import ``data``, expecting a refusal that leaves every table exactly as it was."""
    before = await dump_tables(pool)
    with pytest.raises(CatalogError) as caught:
        await run_import(pool, data)
    assert await dump_tables(pool) == before
    return caught.value


def lisbon() -> tuple[Doc, Doc, Doc]:
    v = factories.venue(city="Lisbon", name="Coliseu", sections=2, rows=2, seats=10)
    fado = factories.event(v, title="Fado Night", when="2027-05-10T20:00:00Z")
    jazz = factories.event(
        v,
        title="Jazz Trio",
        when="2027-05-11T21:30:00+01:00",
        on_sale_at="2027-04-01T10:00:00Z",
        waiting_room=True,
        price_cents=5000,
        admissionRatePerMinute=120,
    )
    return v, fado, jazz


async def test_an_import_writes_venue_layout_seats_events_tiers_and_terms(pool: asyncpg.Pool) -> None:
    v, fado, jazz = lisbon()

    report = await run_import(pool, {"venues": [v], "events": [fado, jazz]})

    assert report == ImportReport(venues_written=1, seats_written=40, events_written=2, events_unchanged=0)
    assert [tuple(r) for r in await pool.fetch("SELECT id, name, city FROM venues")] == [
        (v["id"], "Coliseu", "Lisbon")
    ]
    assert [
        tuple(r) for r in await pool.fetch("SELECT id, name, position FROM sections ORDER BY position")
    ] == [("sec0", "Section 0", 0), ("sec1", "Section 1", 1)]
    assert [
        tuple(r)
        for r in await pool.fetch(
            "SELECT section_id, id, position, seat_count FROM seat_rows ORDER BY section_id, position"
        )
    ] == [("sec0", "A", 0, 10), ("sec0", "B", 1, 10), ("sec1", "A", 0, 10), ("sec1", "B", 1, 10)]
    seats = {tuple(r) for r in await pool.fetch("SELECT venue_id, id, section_id, row_id, number FROM seats")}
    assert seats == {
        (v["id"], seat_id(s, r, n), s, r, n)
        for s in ("sec0", "sec1")
        for r in ("A", "B")
        for n in range(1, 11)
    }

    events = {r["id"]: r for r in await pool.fetch("SELECT * FROM events")}
    assert set(events) == {fado["id"], jazz["id"]}
    assert events[fado["id"]]["title"] == "Fado Night"
    assert events[fado["id"]]["starts_at"] == datetime(2027, 5, 10, 20, tzinfo=UTC)
    assert events[fado["id"]]["city"] == "Lisbon"
    assert events[fado["id"]]["venue_id"] == v["id"]
    assert events[fado["id"]]["waiting_room"] is False
    assert events[fado["id"]]["admission_rate_per_minute"] is None
    assert events[jazz["id"]]["starts_at"] == datetime(2027, 5, 11, 20, 30, tzinfo=UTC)
    assert events[jazz["id"]]["on_sale_at"] == datetime(2027, 4, 1, 10, tzinfo=UTC)
    assert events[jazz["id"]]["waiting_room"] is True
    assert events[jazz["id"]]["admission_rate_per_minute"] == 120

    tiers = {
        tuple(r)
        for r in await pool.fetch("SELECT event_id, id, name, price_cents, currency FROM price_tiers")
    }
    assert tiers == {
        (fado["id"], "pt_1", "Standard", 9900, "USD"),
        (jazz["id"], "pt_1", "Standard", 5000, "USD"),
    }
    priced = {
        tuple(r) for r in await pool.fetch("SELECT event_id, tier_id, section_id FROM price_tier_sections")
    }
    assert priced == {(e["id"], "pt_1", s) for e in (fado, jazz) for s in ("sec0", "sec1")}
    terms = {tuple(r) for r in await pool.fetch("SELECT term, event_id FROM event_title_terms")}
    assert terms == {("fado", fado["id"]), ("night", fado["id"]), ("jazz", jazz["id"]), ("trio", jazz["id"])}


async def test_importing_the_same_file_again_writes_nothing(pool: asyncpg.Pool) -> None:
    v, fado, jazz = lisbon()
    data = {"venues": [v], "events": [fado, jazz]}
    await run_import(pool, data)
    before = await dump_tables(pool)

    report = await run_import(pool, data)

    assert report == ImportReport(venues_written=0, seats_written=0, events_written=0, events_unchanged=2)
    assert await dump_tables(pool) == before


async def test_a_changed_title_is_updated_and_searchable_under_its_new_words(pool: asyncpg.Pool) -> None:
    v, fado, jazz = lisbon()
    await run_import(pool, {"venues": [v], "events": [fado, jazz]})
    layout_before = await dump_layout(pool)

    report = await run_import(pool, {"venues": [v], "events": [{**fado, "title": "Fado Gala"}, jazz]})

    assert report == ImportReport(venues_written=0, seats_written=0, events_written=1, events_unchanged=1)
    assert await pool.fetchval("SELECT title FROM events WHERE id = $1", fado["id"]) == "Fado Gala"
    terms = {
        r["term"]
        for r in await pool.fetch("SELECT term FROM event_title_terms WHERE event_id = $1", fado["id"])
    }
    assert terms == {"fado", "gala"}
    assert await dump_layout(pool) == layout_before


async def test_a_changed_price_is_updated_and_reported(pool: asyncpg.Pool) -> None:
    v, fado, jazz = lisbon()
    await run_import(pool, {"venues": [v], "events": [fado, jazz]})
    jazz_tiers_before = await pool.fetch(
        "SELECT xmin::text, * FROM price_tiers WHERE event_id = $1", jazz["id"]
    )

    cheaper = factories.event(v, event_id=fado["id"], title="Fado Night", price_cents=4500)
    report = await run_import(pool, {"events": [cheaper, jazz]})

    assert report == ImportReport(venues_written=0, seats_written=0, events_written=1, events_unchanged=1)
    assert await pool.fetchval("SELECT price_cents FROM price_tiers WHERE event_id = $1", fado["id"]) == 4500
    # The unchanged event's pricing is left alone, not rewritten.
    assert await pool.fetch("SELECT xmin::text, * FROM price_tiers WHERE event_id = $1", jazz["id"]) == (
        jazz_tiers_before
    )


async def test_a_new_tier_split_replaces_the_old_pricing(pool: asyncpg.Pool) -> None:
    v, fado, _ = lisbon()
    await run_import(pool, {"venues": [v], "events": [fado]})
    split = {
        **fado,
        "priceTiers": [
            {"id": "pt_front", "name": "Front", "priceCents": 12000, "currency": "EUR", "sections": ["sec0"]},
            {"id": "pt_back", "name": "Back", "priceCents": 6000, "currency": "EUR", "sections": ["sec1"]},
        ],
    }

    report = await run_import(pool, {"events": [split]})

    assert report.events_written == 1
    rows = await pool.fetch("SELECT id, price_cents, currency, position FROM price_tiers ORDER BY position")
    assert [tuple(r) for r in rows] == [("pt_front", 12000, "EUR", 0), ("pt_back", 6000, "EUR", 1)]
    sections = await pool.fetch("SELECT tier_id, section_id FROM price_tier_sections ORDER BY section_id")
    assert [tuple(r) for r in sections] == [("pt_front", "sec0"), ("pt_back", "sec1")]


async def test_a_renamed_venue_that_moved_city_carries_its_events_along(pool: asyncpg.Pool) -> None:
    v, fado, _ = lisbon()
    await run_import(pool, {"venues": [v], "events": [fado]})
    seats_before = (await dump_tables(pool))["seats"]

    report = await run_import(pool, {"venues": [{**v, "name": "Coliseu Porto", "city": "Porto"}]})

    assert report.seats_written == 0
    assert report.venues_written == 1
    venue = await pool.fetchrow("SELECT name, city FROM venues")
    assert venue is not None
    assert tuple(venue) == ("Coliseu Porto", "Porto")
    assert await pool.fetchval("SELECT city FROM events WHERE id = $1", fado["id"]) == "Porto"
    assert (await dump_tables(pool))["seats"] == seats_before


async def test_an_event_may_use_a_venue_imported_earlier(pool: asyncpg.Pool) -> None:
    v, fado, jazz = lisbon()
    await run_import(pool, {"venues": [v], "events": [fado]})
    layout_before = await dump_layout(pool)

    report = await run_import(pool, {"events": [jazz]})

    assert report == ImportReport(venues_written=0, seats_written=0, events_written=1, events_unchanged=0)
    row = await pool.fetchrow("SELECT venue_id, city FROM events WHERE id = $1", jazz["id"])
    assert row is not None
    assert tuple(row) == (v["id"], "Lisbon")
    assert await dump_layout(pool) == layout_before


async def test_pricing_a_section_a_stored_venue_lacks_is_refused(pool: asyncpg.Pool) -> None:
    v, fado, jazz = lisbon()
    await run_import(pool, {"venues": [v], "events": [fado]})
    jazz["priceTiers"][0]["sections"] = ["sec0", "sec1", "sec9"]

    error = await refused(pool, {"events": [jazz]})

    assert error.path == "events[0].priceTiers[0].sections[2]"


async def test_leaving_a_section_of_a_stored_venue_unpriced_is_refused(pool: asyncpg.Pool) -> None:
    v, fado, jazz = lisbon()
    await run_import(pool, {"venues": [v], "events": [fado]})
    jazz["priceTiers"][0]["sections"] = ["sec0"]

    error = await refused(pool, {"events": [fado, jazz]})

    assert error.path == "events[1].priceTiers"
    assert "sec1" in error.message


def _more_seats(v: Doc) -> None:
    v["sections"][0]["rows"][0]["seats"] += 1


def _fewer_seats(v: Doc) -> None:
    v["sections"][1]["rows"][1]["seats"] -= 1


def _extra_row(v: Doc) -> None:
    v["sections"][0]["rows"].append({"id": "C", "seats": 10})


def _renamed_row(v: Doc) -> None:
    v["sections"][0]["rows"][1]["id"] = "BB"


def _extra_section(v: Doc) -> None:
    v["sections"].append({"id": "sec9", "name": "Box", "rows": [{"id": "A", "seats": 4}]})


def _dropped_section(v: Doc) -> None:
    del v["sections"][1]


def _reordered_sections(v: Doc) -> None:
    v["sections"].reverse()


@pytest.mark.parametrize(
    "change",
    [
        _more_seats,
        _fewer_seats,
        _extra_row,
        _renamed_row,
        _extra_section,
        _dropped_section,
        _reordered_sections,
    ],
)
async def test_a_seat_layout_change_is_refused_and_nothing_written(
    pool: asyncpg.Pool, change: Callable[[Doc], None]
) -> None:
    v, fado, _ = lisbon()
    await run_import(pool, {"venues": [v], "events": [fado]})
    changed = copy.deepcopy(v)
    change(changed)
    newcomer = factories.venue(city="Porto")
    # Everything else in the file is valid, and none of it may be written either.
    data = {
        "venues": [newcomer, changed],
        "events": [factories.event(newcomer), factories.event(changed, event_id=fado["id"], title="Renamed")],
    }

    error = await refused(pool, data)

    assert error.path == "venues[1].sections"
    assert v["id"] in error.message


async def test_a_layout_change_at_the_first_venue_is_named_by_its_index(pool: asyncpg.Pool) -> None:
    v, _, _ = lisbon()
    await run_import(pool, {"venues": [v]})
    _more_seats(v)

    error = await refused(pool, {"venues": [v]})

    assert error.path == "venues[0].sections"


async def test_an_unknown_venue_is_refused(pool: asyncpg.Pool) -> None:
    v, fado, _ = lisbon()
    ghost = factories.venue()

    error = await refused(pool, {"venues": [v], "events": [fado, factories.event(ghost)]})

    assert error.path == "events[1].venueId"
    assert ghost["id"] in error.message


async def test_an_unknown_venue_is_refused_when_it_is_the_first_event(pool: asyncpg.Pool) -> None:
    error = await refused(pool, {"events": [factories.event(factories.venue())]})
    assert error.path == "events[0].venueId"


async def test_an_event_cannot_move_to_another_venue(pool: asyncpg.Pool) -> None:
    v, fado, _ = lisbon()
    other = factories.venue(city="Porto")
    await run_import(pool, {"venues": [v, other], "events": [fado]})

    error = await refused(pool, {"events": [factories.event(other, event_id=fado["id"], title="Fado Night")]})

    assert error.path == "events[0].venueId"
    assert v["id"] in error.message


async def test_an_event_cannot_move_to_a_venue_new_in_the_file(pool: asyncpg.Pool) -> None:
    v, fado, _ = lisbon()
    await run_import(pool, {"venues": [v], "events": [fado]})
    newcomer = factories.venue(city="Porto")

    error = await refused(
        pool, {"venues": [newcomer], "events": [factories.event(newcomer, event_id=fado["id"])]}
    )

    assert error.path == "events[0].venueId"


async def dump_layout(pool: asyncpg.Pool) -> dict[str, list[tuple[str, str]]]:
    tables = await dump_tables(pool)
    return {name: tables[name] for name in ("venues", "sections", "seat_rows", "seats")}


# --- the demo catalog ----------------------------------------------------------------


def to_import_file(catalog: Catalog) -> Doc:
    """The import-file form of a catalog (API.md, "Import file")."""

    def section(s: Section) -> Doc:
        doc: Doc = {"id": s.id, "name": s.name, "rows": [{"id": r.id, "seats": r.seats} for r in s.rows]}
        if s.geometry is not None:
            doc["geometry"] = {"x": s.geometry.x, "y": s.geometry.y, "rotation": s.geometry.rotation}
        return doc

    def venue(v: Venue) -> Doc:
        doc: Doc = {"id": v.id, "name": v.name, "city": v.city, "sections": [section(s) for s in v.sections]}
        if v.stage is not None:
            doc["stage"] = {"x": v.stage.x, "y": v.stage.y, "width": v.stage.width, "height": v.stage.height}
        return doc

    def event(e: Event) -> Doc:
        return {
            "id": e.id,
            "title": e.title,
            "datetime": e.starts_at.isoformat(),
            "venueId": e.venue_id,
            "onSaleAt": e.on_sale_at.isoformat(),
            "waitingRoom": e.sale.waiting_room,
            "priceTiers": [
                {
                    "id": t.id,
                    "name": t.name,
                    "priceCents": t.price_cents,
                    "currency": t.currency,
                    "sections": list(t.sections),
                }
                for t in e.price_tiers
            ],
        }

    return {"venues": [venue(v) for v in catalog.venues], "events": [event(e) for e in catalog.events]}


def test_the_demo_catalog_is_large_varied_and_deterministic() -> None:
    demo = demo_catalog()

    assert demo == demo_catalog()
    assert orjson.dumps(to_import_file(demo)) == orjson.dumps(to_import_file(demo_catalog()))
    assert len(demo.venues) >= 3
    assert max(v.seat_count for v in demo.venues) >= 50_000
    assert len(demo.events) >= 200
    assert len({v.city for v in demo.venues}) >= 10
    starts = sorted(e.starts_at for e in demo.events)
    assert (starts[-1] - starts[0]).days >= 150
    assert len({(s.year, s.month) for s in starts}) >= 5
    assert any(e.title == "Taylor Swift: The Eras Tour" for e in demo.events)
    assert demo_catalog(seed=8) != demo


def test_the_demo_catalog_passes_the_import_file_validation() -> None:
    demo = demo_catalog()
    assert parse_catalog(to_import_file(demo)) == demo


async def test_the_demo_catalog_loads_and_reloads_without_writing(pool: asyncpg.Pool) -> None:
    demo = demo_catalog()

    report = await import_catalog(PostgresCatalogStore(pool), demo)

    seats = sum(v.seat_count for v in demo.venues)
    assert report == ImportReport(
        venues_written=len(demo.venues),
        seats_written=seats,
        events_written=len(demo.events),
        events_unchanged=0,
    )
    assert await pool.fetchval("SELECT count(*) FROM seats") == seats
    assert await pool.fetchval("SELECT count(*) FROM events") == len(demo.events)
    assert await pool.fetchval("SELECT count(DISTINCT city) FROM events") >= 10
    unpriced = await pool.fetchval(
        """
        SELECT count(*) FROM events e JOIN sections s ON s.venue_id = e.venue_id
        WHERE NOT EXISTS (SELECT 1 FROM price_tier_sections p WHERE p.event_id = e.id AND p.section_id = s.id)
        """
    )
    assert unpriced == 0

    before = await dump_tables(pool)
    again = await import_catalog(PostgresCatalogStore(pool), demo_catalog())
    assert again == ImportReport(events_unchanged=len(demo.events))
    assert await dump_tables(pool) == before
