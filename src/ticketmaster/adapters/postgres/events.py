"""Browse queries: keyset-paginated event listings and event details."""

from __future__ import annotations

import asyncpg

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
    query is planned against its own index (city+time, time, or title terms)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

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
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                _SELECT.replace("e.city", "e.city, e.waiting_room, e.on_sale_at", 1) + " WHERE e.id = $1",
                event_id,
            )
            if row is None:
                return None
            tiers = await conn.fetch(
                "SELECT id, name, price_cents, currency FROM price_tiers"
                " WHERE event_id = $1 ORDER BY position",
                event_id,
            )
            seat_count = await conn.fetchval(
                "SELECT coalesce(sum(seat_count), 0) FROM seat_rows WHERE venue_id = $1",
                row["venue_id"],
            )
        return EventDetail(
            summary=_summary(row),
            price_tiers=tuple(
                PriceTierView(
                    id=t["id"], name=t["name"], price_cents=t["price_cents"], currency=t["currency"]
                )
                for t in tiers
            ),
            waiting_room=row["waiting_room"],
            on_sale_at=row["on_sale_at"],
            seat_count=int(seat_count),
        )
