"""Writes a validated catalog in bulk (COPY into staging tables, then set-based upserts).

Upserts only touch rows whose values differ, so importing the same file twice writes
nothing. An import is one transaction (``PostgresCatalogStore.importing``): all-or-nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import asyncpg

from ticketmaster.adapters.postgres.pool import Conn
from ticketmaster.domain.catalog import Catalog, Event, ImportReport, Progress, Row, Section, Venue
from ticketmaster.domain.search import deletion_variants, terms


async def stored_venues(conn: Conn, venue_ids: Iterable[str]) -> dict[str, Venue]:
    """Layouts of the given venues as stored, to compare with or price against."""
    rows = await conn.fetch(
        """
        SELECT v.id, v.name, v.city, s.id AS section_id, s.name AS section_name,
               r.id AS row_id, r.seat_count
        FROM venues v
        JOIN sections s ON s.venue_id = v.id
        JOIN seat_rows r ON r.venue_id = s.venue_id AND r.section_id = s.id
        WHERE v.id = ANY($1::text[])
        ORDER BY v.id, s.position, r.position
        """,
        list(venue_ids),
    )
    grouped: dict[str, tuple[str, str, dict[str, tuple[str, list[Row]]]]] = {}
    for r in rows:
        _, _, sections = grouped.setdefault(r["id"], (r["name"], r["city"], {}))
        sections.setdefault(r["section_id"], (r["section_name"], []))[1].append(
            Row(id=r["row_id"], seats=r["seat_count"])
        )
    return {
        vid: Venue(
            id=vid,
            name=name,
            city=city,
            sections=tuple(
                Section(id=sid, name=sname, rows=tuple(srows)) for sid, (sname, srows) in sections.items()
            ),
        )
        for vid, (name, city, sections) in grouped.items()
    }


async def stored_event_venues(conn: Conn, event_ids: Iterable[str]) -> dict[str, str]:
    rows = await conn.fetch("SELECT id, venue_id FROM events WHERE id = ANY($1::text[])", list(event_ids))
    return {r["id"]: r["venue_id"] for r in rows}


async def _write_venue(conn: Conn, venue: Venue, *, new: bool) -> tuple[bool, int]:
    """Upsert one venue; returns (whether any row changed, how many seats were created).

    A change of a section's name or of the drawing raises the venue's layout revision, the
    key of every cached copy of the layout (adapters/redis/catalog_cache.py)."""
    stage = venue.stage
    renamed = await conn.fetch(
        """
        INSERT INTO venues AS v (id, name, city, stage_x, stage_y, stage_width, stage_height)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (id) DO UPDATE SET
            name = EXCLUDED.name, city = EXCLUDED.city,
            stage_x = EXCLUDED.stage_x, stage_y = EXCLUDED.stage_y,
            stage_width = EXCLUDED.stage_width, stage_height = EXCLUDED.stage_height,
            layout_revision = v.layout_revision
                + ((v.stage_x, v.stage_y, v.stage_width, v.stage_height) IS DISTINCT FROM
                   (EXCLUDED.stage_x, EXCLUDED.stage_y, EXCLUDED.stage_width, EXCLUDED.stage_height))::int
        WHERE (v.name, v.city, v.stage_x, v.stage_y, v.stage_width, v.stage_height)
              IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.city, EXCLUDED.stage_x, EXCLUDED.stage_y,
                                EXCLUDED.stage_width, EXCLUDED.stage_height)
        RETURNING id
        """,
        venue.id,
        venue.name,
        venue.city,
        *((stage.x, stage.y, stage.width, stage.height) if stage else (None, None, None, None)),
    )
    # Events carry a copy of their venue's city (see the schema); keep it in step.
    await conn.execute("UPDATE events SET city = $2 WHERE venue_id = $1 AND city <> $2", venue.id, venue.city)
    geometry = [s.geometry for s in venue.sections]
    sections = await conn.fetch(
        """
        INSERT INTO sections AS s (venue_id, id, name, position, x, y, rotation)
        SELECT $1, * FROM unnest($2::text[], $3::text[], $4::int[], $5::float8[], $6::float8[], $7::float8[])
        ON CONFLICT (venue_id, id) DO UPDATE SET
            name = EXCLUDED.name, x = EXCLUDED.x, y = EXCLUDED.y, rotation = EXCLUDED.rotation
        WHERE (s.name, s.x, s.y, s.rotation) IS DISTINCT FROM
              (EXCLUDED.name, EXCLUDED.x, EXCLUDED.y, EXCLUDED.rotation)
        RETURNING id
        """,
        venue.id,
        [s.id for s in venue.sections],
        [s.name for s in venue.sections],
        list(range(len(venue.sections))),
        [g.x if g else None for g in geometry],
        [g.y if g else None for g in geometry],
        [g.rotation if g else None for g in geometry],
    )
    if sections and not new:
        await conn.execute("UPDATE venues SET layout_revision = layout_revision + 1 WHERE id = $1", venue.id)
    changed = bool(renamed or sections)
    if not new:
        return changed, 0  # the layout is identical (checked by the caller): rows and seats exist
    await conn.copy_records_to_table(
        "seat_rows",
        columns=["venue_id", "section_id", "id", "position", "seat_count"],
        records=[(venue.id, s.id, r.id, i, r.seats) for s in venue.sections for i, r in enumerate(s.rows)],
    )
    seats = venue.seat_rows()
    await conn.copy_records_to_table(
        "seats",
        columns=["venue_id", "id", "section_id", "row_id", "number"],
        records=[(venue.id, *seat) for seat in seats],
    )
    return True, len(seats)


async def _write_events(conn: Conn, events: list[Event], cities: dict[str, str]) -> set[str]:
    """Upsert events; returns the ids of those inserted or changed."""
    changed = await conn.fetch(
        """
        INSERT INTO events (id, title, starts_at, venue_id, city, on_sale_at, waiting_room,
                            admission_rate_per_minute, max_admitted, admission_window_seconds,
                            max_tickets_per_buyer)
        SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[],
                             $6::timestamptz[], $7::bool[], $8::int[], $9::int[], $10::int[],
                             $11::int[])
        ON CONFLICT (id) DO UPDATE SET
            title = EXCLUDED.title, starts_at = EXCLUDED.starts_at, city = EXCLUDED.city,
            on_sale_at = EXCLUDED.on_sale_at, waiting_room = EXCLUDED.waiting_room,
            admission_rate_per_minute = EXCLUDED.admission_rate_per_minute,
            max_admitted = EXCLUDED.max_admitted,
            admission_window_seconds = EXCLUDED.admission_window_seconds,
            max_tickets_per_buyer = EXCLUDED.max_tickets_per_buyer,
            updated_at = now()
        WHERE (events.title, events.starts_at, events.city, events.on_sale_at,
               events.waiting_room, events.admission_rate_per_minute, events.max_admitted,
               events.admission_window_seconds, events.max_tickets_per_buyer)
          IS DISTINCT FROM
              (EXCLUDED.title, EXCLUDED.starts_at, EXCLUDED.city, EXCLUDED.on_sale_at,
               EXCLUDED.waiting_room, EXCLUDED.admission_rate_per_minute, EXCLUDED.max_admitted,
               EXCLUDED.admission_window_seconds, EXCLUDED.max_tickets_per_buyer)
        RETURNING id
        """,
        [e.id for e in events],
        [e.title for e in events],
        [e.starts_at for e in events],
        [e.venue_id for e in events],
        [cities[e.venue_id] for e in events],
        [e.on_sale_at for e in events],
        [e.sale.waiting_room for e in events],
        [e.sale.admission_rate_per_minute for e in events],
        [e.sale.max_admitted for e in events],
        [e.sale.admission_window_seconds for e in events],
        [e.sale.max_tickets_per_buyer for e in events],
    )
    return {r["id"] for r in changed}


async def _write_pricing(conn: Conn, events: list[Event]) -> set[str]:
    """Replace the pricing of the events whose tiers differ; returns their ids."""
    ids = [e.id for e in events]
    wanted: dict[str, set[tuple[object, ...]]] = {e.id: set() for e in events}
    for e in events:
        for i, t in enumerate(e.price_tiers):
            wanted[e.id].add(("tier", t.id, t.name, t.price_cents, t.currency, i))
            wanted[e.id].update(("section", t.id, section) for section in t.sections)
    # Compare before replacing, so an unchanged re-import writes nothing.
    current: dict[str, set[tuple[object, ...]]] = {e.id: set() for e in events}
    for r in await conn.fetch(
        "SELECT event_id, id, name, price_cents, currency, position FROM price_tiers"
        " WHERE event_id = ANY($1::text[])",
        ids,
    ):
        current[r["event_id"]].add(
            ("tier", r["id"], r["name"], r["price_cents"], r["currency"], r["position"])
        )
    for r in await conn.fetch(
        "SELECT event_id, tier_id, section_id FROM price_tier_sections WHERE event_id = ANY($1::text[])",
        ids,
    ):
        current[r["event_id"]].add(("section", r["tier_id"], r["section_id"]))
    changed = [e for e in events if current[e.id] != wanted[e.id]]
    if not changed:
        return set()
    await conn.execute("DELETE FROM price_tiers WHERE event_id = ANY($1::text[])", [e.id for e in changed])
    await conn.copy_records_to_table(
        "price_tiers",
        columns=["event_id", "id", "name", "price_cents", "currency", "position"],
        records=[
            (e.id, t.id, t.name, t.price_cents, t.currency, i)
            for e in changed
            for i, t in enumerate(e.price_tiers)
        ],
    )
    await conn.copy_records_to_table(
        "price_tier_sections",
        columns=["event_id", "tier_id", "section_id"],
        records=[(e.id, t.id, section) for e in changed for t in e.price_tiers for section in t.sections],
    )
    return {e.id for e in changed}


async def _write_search_terms(conn: Conn, events: list[Event]) -> None:
    ids = [e.id for e in events]
    wanted = {(term, e.id) for e in events for term in terms(e.title)}
    current = await conn.fetch(
        "SELECT term, event_id FROM event_title_terms WHERE event_id = ANY($1::text[])", ids
    )
    if {tuple(r) for r in current} == wanted:
        return
    await conn.execute("DELETE FROM event_title_terms WHERE event_id = ANY($1::text[])", ids)
    await conn.copy_records_to_table(
        "event_title_terms", columns=["term", "event_id"], records=sorted(wanted)
    )
    variants = sorted({(v, term) for term, _ in wanted for v in deletion_variants(term)})
    await conn.execute(
        """
        INSERT INTO title_term_variants (variant, term)
        SELECT * FROM unnest($1::text[], $2::text[])
        ON CONFLICT DO NOTHING
        """,
        [v for v, _ in variants],
        [t for _, t in variants],
    )


async def write_catalog(
    conn: Conn,
    catalog: Catalog,
    *,
    new_venue_ids: set[str],
    cities: dict[str, str],
    progress: Progress | None = None,
    batch: int = 50,
) -> ImportReport:
    """Write a catalog already checked against the database (caller's transaction)."""
    report = ImportReport()
    tick = progress or (lambda _n: None)
    for venue in catalog.venues:
        changed, seats = await _write_venue(conn, venue, new=venue.id in new_venue_ids)
        report.venues_written += changed
        report.seats_written += seats
        tick(venue.seat_count)
    events = list(catalog.events)
    for start in range(0, len(events), batch):
        chunk = events[start : start + batch]
        written = await _write_events(conn, chunk, cities) | await _write_pricing(conn, chunk)
        report.events_written += len(written)
        report.events_unchanged += len(chunk) - len(written)
        await _write_search_terms(conn, chunk)
        tick(len(chunk))
    return report


_IMPORT_LOCK = 0x696D706F  # "impo": one import at a time


class CatalogImportTx:
    """The one transaction of an import, holding the import lock (one import at a time)."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def stored_venues(self, venue_ids: Iterable[str]) -> dict[str, Venue]:
        return await stored_venues(self._conn, venue_ids)

    async def stored_event_venues(self, event_ids: Iterable[str]) -> dict[str, str]:
        return await stored_event_venues(self._conn, event_ids)

    async def write(
        self,
        catalog: Catalog,
        *,
        new_venue_ids: set[str],
        cities: dict[str, str],
        progress: Progress | None = None,
    ) -> ImportReport:
        return await write_catalog(
            self._conn, catalog, new_venue_ids=new_venue_ids, cities=cities, progress=progress
        )


class PostgresCatalogStore:
    """Where imports go: venues, seats, events and price tiers (all-or-nothing per import)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def importing(self) -> AsyncIterator[CatalogImportTx]:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _IMPORT_LOCK)
            yield CatalogImportTx(conn)
