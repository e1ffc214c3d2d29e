"""A purchase prices its hold's seats by their keys, however stale the planner's statistics:
right after an import (an on-sale minutes later, the venue not analyzed yet) the price
lookup must not read the venue's seats."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from tests import factories
from ticketmaster.adapters.postgres.purchases import PRICE_SQL
from ticketmaster.domain.seats import seat_id


def _rows_read(plan: dict[str, Any], relation: str) -> float:
    """Rows the plan's nodes on ``relation`` returned, over all their loops."""
    own = plan["Actual Rows"] * plan["Actual Loops"] if plan.get("Relation Name") == relation else 0.0
    return own + sum(_rows_read(child, relation) for child in plan.get("Plans", []))


async def test_the_price_of_a_hold_reads_only_its_seats_when_the_statistics_say_the_venue_is_empty(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        # Statistics taken while the tables are empty: the planner then believes them so.
        await conn.execute("ANALYZE seats, holds, hold_seats, price_tier_sections")
    venue = factories.venue(sections=4, rows=20, seats=25)  # 2,000 seats
    event = factories.event(venue, price_cents=4200)
    await factories.load(pool, {"venues": [venue], "events": [event]})
    seats = [seat_id("sec2", "C", 7), seat_id("sec2", "C", 8)]
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO users (id) VALUES ('usr_price')")
        await conn.execute(
            """
            INSERT INTO holds
                (id, event_id, user_id, status, expires_at, idempotency_key, request_fingerprint)
            VALUES ('hold_price', $1, 'usr_price', 'ACTIVE', now() + interval '1 minute', 'k', 'f')
            """,
            event["id"],
        )
        await conn.executemany(
            "INSERT INTO hold_seats (hold_id, event_id, seat_id) VALUES ('hold_price', $1, $2)",
            [(event["id"], s) for s in seats],
        )
        prices = await conn.fetch(PRICE_SQL, "hold_price")
        explained = await conn.fetchval(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {PRICE_SQL}".replace("$1", "'hold_price'")
        )

    assert [(r["price_cents"], r["currency"]) for r in prices] == [(4200, "USD"), (4200, "USD")]
    plan = orjson.loads(explained)[0]["Plan"]
    # Key lookups of the held seats (repeated per section of the tier at most), never a read
    # of the venue's 2,000 seats.
    assert len(seats) <= _rows_read(plan, "seats") <= 4 * len(seats)
