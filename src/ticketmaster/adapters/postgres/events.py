"""Browse queries: keyset-paginated event listings and event details."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import orjson

from ticketmaster.adapters.postgres.replicas import ReplicaReader
from ticketmaster.domain.events import EventDetail, EventFilters, EventSummary, PriceTierView
from ticketmaster.domain.search import deletion_variants, typo_tolerant

_SELECT = """
SELECT e.id, e.title, e.starts_at, e.venue_id, v.name AS venue_name, e.city
FROM events e JOIN venues v ON v.id = e.venue_id
"""


def _summary(r: asyncpg.Record) -> EventSummary:
    return EventSummary(
        id=r["id"],
        title=r["title"],
        starts_at=r["starts_at"],
        venue_id=r["venue_id"],
        venue_name=r["venue_name"],
        city=r["city"],
    )


class PostgresEventCatalog:
    """Read side of the catalog; builds SQL with only the filters in use so every
    query is planned against its own index (city+time, time, or title terms). It reads
    through a :class:`ReplicaReader`: a replica when one is configured and up."""

    def __init__(self, reader: ReplicaReader) -> None:
        self._pool = reader

    async def list_events(self, filters: EventFilters) -> list[EventSummary]:
        where: list[str] = []
        args: list[object] = []

        def arg(value: object) -> str:
            args.append(value)
            return f"${len(args)}"

        if filters.city is not None:
            where.append(f"lower(e.city) = lower({arg(filters.city)})")
        if filters.starts_from is not None:
            where.append(f"e.starts_at >= {arg(filters.starts_from)}")
        if filters.starts_before is not None:
            where.append(f"e.starts_at < {arg(filters.starts_before)}")
        if filters.after is not None:
            when, last_id = filters.after
            where.append(f"(e.starts_at, e.id) > ({arg(when)}::timestamptz, {arg(last_id)}::text)")
        for word in filters.words:
            # Prefix match on the term (a C-collated range scan), or a one-edit typo match.
            match = f"(t.term >= {arg(word)} AND t.term < {arg(word + chr(0x10FFFF))})"
            if typo_tolerant(word):
                match += (
                    " OR t.term IN (SELECT tv.term FROM title_term_variants tv"
                    f" WHERE tv.variant = ANY({arg(sorted(deletion_variants(word)))}::text[]))"
                )
            where.append(f"e.id IN (SELECT t.event_id FROM event_title_terms t WHERE {match})")
        sql = _SELECT
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY e.starts_at, e.id LIMIT {arg(filters.limit)}"
        rows = await self._pool.fetch(sql, *args)
        return [_summary(r) for r in rows]

    async def get_event(self, event_id: str) -> EventDetail | None:
        """One round trip: the event, its venue, its tiers (as JSON) and its seat count."""
        row = await self._pool.fetchrow(
            """
            SELECT e.id, e.title, e.starts_at, e.venue_id, v.name AS venue_name, e.city,
                   e.waiting_room, e.on_sale_at,
                   (SELECT coalesce(sum(r.seat_count), 0) FROM seat_rows r
                     WHERE r.venue_id = e.venue_id) AS seat_count,
                   (SELECT coalesce(json_agg(json_build_array(t.id, t.name, t.price_cents, t.currency)
                                             ORDER BY t.position), '[]')
                      FROM price_tiers t WHERE t.event_id = e.id) AS tiers
            FROM events e JOIN venues v ON v.id = e.venue_id
            WHERE e.id = $1
            """,
            event_id,
        )
        if row is None:
            return None
        return EventDetail(
            summary=_summary(row),
            price_tiers=tuple(
                PriceTierView(id=tid, name=name, price_cents=int(price), currency=currency)
                for tid, name, price, currency in orjson.loads(row["tiers"])
            ),
            waiting_room=row["waiting_room"],
            on_sale_at=row["on_sale_at"],
            seat_count=int(row["seat_count"]),
        )

    async def on_sale_soon(self, within_seconds: float) -> list[tuple[str, datetime]]:
        """(event id, onSaleAt) of every event not yet over whose sale opens within
        ``within_seconds`` or is open, those nearest their opening first (the on-sale warm-up's
        list: a sale about to open or just opened matters most)."""
        rows = await self._pool.fetch(
            """
            SELECT id, on_sale_at FROM events
            WHERE on_sale_at <= now() + make_interval(secs => $1) AND starts_at > now()
            ORDER BY abs(extract(epoch FROM on_sale_at - now())), id
            """,
            within_seconds,
        )
        return [(r["id"], r["on_sale_at"]) for r in rows]
