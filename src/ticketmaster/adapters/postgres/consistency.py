"""Read-only queries that compare PostgreSQL with Redis and the payment ledger
(reconcile and audit). Each is safe to run during a sale: no locks beyond a snapshot."""

from __future__ import annotations

import asyncpg

from ticketmaster.adapters.postgres.holds import BLOCKS_UNTIL, blocking_hold
from ticketmaster.domain.reconcile import EventTruth


class PostgresConsistencyReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def live_event_ids(self) -> list[str]:
        """Events that can still change: not yet over (with a day's slack)."""
        rows = await self._pool.fetch(
            "SELECT id FROM events WHERE starts_at > now() - interval '1 day' ORDER BY id"
        )
        return [r["id"] for r in rows]

    async def event_truth(self, event_id: str) -> EventTruth:
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            sold = await conn.fetch(
                "SELECT seat_id FROM booking_seats WHERE event_id = $1 AND live", event_id
            )
            holds = await conn.fetch(
                f"""
                SELECT h.id, h.event_id, h.user_id, h.status, h.expires_at <= now() AS overdue,
                       (extract(epoch FROM {BLOCKS_UNTIL}) * 1000)::bigint AS until_ms,
                       array(SELECT s.seat_id FROM hold_seats s WHERE s.hold_id = h.id) AS seat_ids
                FROM holds h
                WHERE h.event_id = $1 AND h.status IN ('ACTIVE', 'PURCHASING')
                """,
                event_id,
            )
        live = {r["id"]: blocking_hold(r) for r in holds if not (r["status"] == "ACTIVE" and r["overdue"])}
        overdue = tuple(r["id"] for r in holds if r["status"] == "ACTIVE" and r["overdue"])
        return EventTruth(event_id, frozenset(r["seat_id"] for r in sold), live, overdue)

    async def existing_holds(self, hold_ids: list[str]) -> dict[str, str]:
        """Status of each given hold id that exists."""
        rows = await self._pool.fetch("SELECT id, status FROM holds WHERE id = ANY($1::text[])", hold_ids)
        return {r["id"]: r["status"] for r in rows}

    # --- audit-only queries -----------------------------------------------------------

    async def seats_sold_twice(self) -> list[tuple[str, str, int]]:
        rows = await self._pool.fetch(
            """
            SELECT event_id, seat_id, count(*) AS n FROM booking_seats WHERE live
            GROUP BY event_id, seat_id HAVING count(*) > 1 ORDER BY 1, 2
            """
        )
        return [(r["event_id"], r["seat_id"], r["n"]) for r in rows]

    async def seats_held_twice(self) -> list[tuple[str, str, list[str]]]:
        rows = await self._pool.fetch(
            """
            SELECT hs.event_id, hs.seat_id, array_agg(h.id ORDER BY h.id) AS holds
            FROM hold_seats hs JOIN holds h ON h.id = hs.hold_id
            WHERE (h.status = 'ACTIVE' AND h.expires_at > now())
               OR (h.status = 'PURCHASING' AND h.payment_deadline > now())
            GROUP BY hs.event_id, hs.seat_id HAVING count(*) > 1 ORDER BY 1, 2
            """
        )
        return [(r["event_id"], r["seat_id"], list(r["holds"])) for r in rows]

    async def held_and_sold(self) -> list[tuple[str, str, str]]:
        """Seats under a live hold that are also in a live booking of another purchase."""
        rows = await self._pool.fetch(
            """
            SELECT hs.event_id, hs.seat_id, h.id
            FROM hold_seats hs JOIN holds h ON h.id = hs.hold_id
            JOIN booking_seats bs ON bs.event_id = hs.event_id AND bs.seat_id = hs.seat_id AND bs.live
            JOIN bookings b ON b.id = bs.booking_id
            JOIN purchases p ON p.id = b.purchase_id
            WHERE h.status = 'ACTIVE' AND h.expires_at > now() AND p.hold_id <> h.id
            """
        )
        return [(r["event_id"], r["seat_id"], r["id"]) for r in rows]

    async def overdue_active_holds(self, grace_seconds: float) -> list[tuple[str, float]]:
        rows = await self._pool.fetch(
            """
            SELECT id, extract(epoch FROM now() - expires_at) AS late FROM holds
            WHERE status = 'ACTIVE' AND expires_at < now() - make_interval(secs => $1)
            """,
            grace_seconds,
        )
        return [(r["id"], float(r["late"])) for r in rows]

    async def purchases_vs_bookings(self) -> list[str]:
        """Purchases whose state contradicts their bookings (I3, database side)."""
        rows = await self._pool.fetch(
            """
            SELECT p.id, p.status, b.id AS booking_id, b.amount_cents, p.amount_cents AS paid
            FROM purchases p LEFT JOIN bookings b ON b.purchase_id = p.id
            WHERE (p.status = 'SUCCEEDED' AND (b.id IS NULL OR b.amount_cents <> p.amount_cents
                                               OR b.status <> 'CONFIRMED'))
               OR (p.status <> 'SUCCEEDED' AND b.id IS NOT NULL AND b.status = 'CONFIRMED')
            """
        )
        return [
            f"purchase {r['id']} is {r['status']} but its booking is {r['booking_id'] or 'missing'}"
            for r in rows
        ]

    async def succeeded_purchases(self) -> dict[str, int]:
        """Purchase id -> amount of every SUCCEEDED purchase with a confirmed booking."""
        rows = await self._pool.fetch(
            """
            SELECT p.id, b.amount_cents FROM purchases p JOIN bookings b ON b.purchase_id = p.id
            WHERE p.status = 'SUCCEEDED' AND b.status = 'CONFIRMED'
            """
        )
        return {r["id"]: r["amount_cents"] for r in rows}

    async def purchase_statuses(self, purchase_ids: list[str]) -> dict[str, str]:
        """Status of each given purchase id that exists."""
        rows = await self._pool.fetch(
            "SELECT id, status FROM purchases WHERE id = ANY($1::text[])", purchase_ids
        )
        return {r["id"]: r["status"] for r in rows}
