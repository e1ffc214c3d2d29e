"""Holds in PostgreSQL: durable hold rows (batched group commits) and the reads that
rebuild an event's seat state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from ticketmaster.adapters.postgres.pool import CONNECTION_ERRORS, Conn
from ticketmaster.domain.errors import CommitInDoubt
from ticketmaster.domain.holds import BlockingHold, Hold, HoldStatus, WriteOutcome
from ticketmaster.domain.layout import EventInfo, Geometry, SectionLayout, Stage, TierPrice, VenueLayout
from ticketmaster.observability import HOLD_WRITE_BATCH

# When a hold row ``h`` stops blocking its seats (domain.holds.BlockingHold): the one place
# that says a PURCHASING hold keeps its seats until the payment deadline.
BLOCKS_UNTIL = "CASE WHEN h.status = 'PURCHASING' THEN h.payment_deadline ELSE h.expires_at END"

# A void row's Idempotency-Key: a space is not allowed in a client's key, so none collides.
VOID_KEY_PREFIX = "void "

log = logging.getLogger(__name__)
_LOST: tuple[type[Exception], ...] = (CommitInDoubt, *CONNECTION_ERRORS)


@dataclass(frozen=True, slots=True)
class NewHold:
    hold: Hold
    idempotency_key: str
    generation: int = 0
    """The event generation the hold's grant reached in Redis (0: unknown)."""


def _hold(row: asyncpg.Record) -> Hold:
    return Hold(
        id=row["id"],
        event_id=row["event_id"],
        user_id=row["user_id"],
        seat_ids=tuple(row["seat_ids"]),
        status=HoldStatus(row["status"]),
        expires_at=row["expires_at"],
        fingerprint=row["request_fingerprint"],
    )


_HOLD_SELECT = """
SELECT h.id, h.event_id, h.user_id, h.status, h.expires_at, h.request_fingerprint,
       array(SELECT s.seat_id FROM hold_seats s WHERE s.hold_id = h.id ORDER BY s.seat_id) AS seat_ids
FROM holds h
"""


class PostgresHoldRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, hold_id: str) -> Hold | None:
        row = await self._pool.fetchrow(_HOLD_SELECT + " WHERE h.id = $1", hold_id)
        return _hold(row) if row else None

    async def by_idempotency_key(self, user_id: str, key: str) -> Hold | None:
        row = await self._pool.fetchrow(
            _HOLD_SELECT + " WHERE h.user_id = $1 AND h.idempotency_key = $2", user_id, key
        )
        return _hold(row) if row else None

    async def insert_many(self, batch: list[NewHold]) -> dict[str, WriteOutcome]:
        """Insert holds and their seats in ONE statement (so one implicit transaction and
        one round trip); outcome per hold id.

        A connection error before the statement is sent raises as it is (nothing written);
        one after raises CommitInDoubt, since the commit may have happened.
        """
        async with self._pool.acquire() as conn:
            try:
                return await self._insert_on(conn, batch)
            except CONNECTION_ERRORS as exc:
                raise CommitInDoubt(f"the hold commit was not confirmed: {type(exc).__name__}") from exc

    async def void_unless_present(self, holds: Sequence[Hold]) -> set[str]:
        """Write a void row (CANCELLED, no seats) under each hold's id unless its row
        exists; the ids voided. The insert waits for a commit of the same id still in
        progress, so a hold is either durable or void, never both, never later."""
        rows = await self._pool.fetch(
            """
            INSERT INTO holds (id, event_id, user_id, status, expires_at, idempotency_key,
                               request_fingerprint)
            SELECT id, event_id, user_id, 'CANCELLED', expires_at, $6 || id, fingerprint
            FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[])
                 AS v(id, event_id, user_id, expires_at, fingerprint)
            ON CONFLICT DO NOTHING
            RETURNING id
            """,
            [h.id for h in holds],
            [h.event_id for h in holds],
            [h.user_id for h in holds],
            [h.expires_at for h in holds],
            [h.fingerprint for h in holds],
            VOID_KEY_PREFIX,
        )
        return {r["id"] for r in rows}

    async def prime(self) -> None:
        """Run the group commit's statement, inserting nothing, on each idle connection (the
        on-sale warm-up): a connection's first run of it prepares the statement and
        introspects its types, which took tens of ms at the first commit of a sale."""
        async with contextlib.AsyncExitStack() as stack:
            conns = [
                await stack.enter_async_context(self._pool.acquire())
                for _ in range(max(1, self._pool.get_idle_size()))
            ]
            await asyncio.gather(*(self._insert_on(conn, []) for conn in conns))

    async def _insert_on(self, conn: Conn, batch: list[NewHold]) -> dict[str, WriteOutcome]:
        seats = [(n.hold.id, n.hold.event_id, s) for n in batch for s in n.hold.seat_ids]
        # The seats CTE inserts only the seats of holds the first one inserted; the
        # foreign key is checked at the end of the statement, when both are in.
        inserted = await conn.fetch(
            """
            WITH new AS (
                INSERT INTO holds (id, event_id, user_id, status, expires_at, idempotency_key,
                                   request_fingerprint, gate_generation)
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                                     $5::timestamptz[], $6::text[], $7::text[], $11::bigint[])
                ON CONFLICT DO NOTHING
                RETURNING id
            ), new_seats AS (
                INSERT INTO hold_seats (hold_id, event_id, seat_id)
                SELECT s.hold_id, s.event_id, s.seat_id
                FROM unnest($8::text[], $9::text[], $10::text[]) AS s(hold_id, event_id, seat_id)
                WHERE s.hold_id IN (SELECT id FROM new)
            )
            SELECT id FROM new
            """,
            [n.hold.id for n in batch],
            [n.hold.event_id for n in batch],
            [n.hold.user_id for n in batch],
            [n.hold.status.value for n in batch],
            [n.hold.expires_at for n in batch],
            [n.idempotency_key for n in batch],
            [n.hold.fingerprint for n in batch],
            [h for h, _, _ in seats],
            [e for _, e, _ in seats],
            [s for _, _, s in seats],
            [n.generation or None for n in batch],
        )
        new_ids = {r["id"] for r in inserted}
        missing = [n.hold.id for n in batch if n.hold.id not in new_ids]
        present: set[str] = set()
        if missing:
            # A statement of its own: it sees rows a concurrent writer committed meanwhile.
            rows = await conn.fetch("SELECT id FROM holds WHERE id = ANY($1::text[])", missing)
            present = {r["id"] for r in rows}
        return {
            n.hold.id: WriteOutcome.INSERTED
            if n.hold.id in new_ids
            else WriteOutcome.PRESENT
            if n.hold.id in present
            else WriteOutcome.KEY_TAKEN
            for n in batch
        }

    async def cancel(self, hold_id: str, user_id: str) -> Hold | None:
        """Mark the user's ACTIVE, unexpired hold CANCELLED; return the hold as it now is
        (None when there is no such hold of this user)."""
        async with self._pool.acquire() as conn:
            await conn.execute(
                """
                UPDATE holds SET status = 'CANCELLED', updated_at = now()
                WHERE id = $1 AND user_id = $2 AND status = 'ACTIVE' AND expires_at > now()
                """,
                hold_id,
                user_id,
            )
            row = await conn.fetchrow(_HOLD_SELECT + " WHERE h.id = $1 AND h.user_id = $2", hold_id, user_id)
        return _hold(row) if row else None

    # --- reads that rebuild the Redis view -------------------------------------------

    async def event_info(self, event_id: str) -> EventInfo | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                """
                SELECT e.venue_id, e.on_sale_at, e.waiting_room, e.admission_rate_per_minute,
                       e.max_admitted, e.admission_window_seconds, e.max_tickets_per_buyer,
                       v.layout_revision,
                       (SELECT coalesce(sum(seat_count), 0) FROM seat_rows r
                         WHERE r.venue_id = e.venue_id) AS seat_count
                FROM events e JOIN venues v ON v.id = e.venue_id WHERE e.id = $1
                """,
                event_id,
            )
            if row is None:
                return None
            tiers = await conn.fetch(
                "SELECT id, price_cents, currency FROM price_tiers WHERE event_id = $1", event_id
            )
            sections = await conn.fetch(
                "SELECT section_id, tier_id FROM price_tier_sections WHERE event_id = $1", event_id
            )
        return EventInfo(
            event_id=event_id,
            venue_id=row["venue_id"],
            on_sale_at=row["on_sale_at"],
            waiting_room=row["waiting_room"],
            section_tiers={r["section_id"]: r["tier_id"] for r in sections},
            tiers={t["id"]: TierPrice(t["id"], t["price_cents"], t["currency"]) for t in tiers},
            seat_count=int(row["seat_count"]),
            admission_rate_per_minute=row["admission_rate_per_minute"],
            max_admitted=row["max_admitted"],
            admission_window_seconds=row["admission_window_seconds"],
            max_tickets_per_buyer=row["max_tickets_per_buyer"],
            layout_revision=row["layout_revision"],
        )

    async def venue_layout(self, venue_id: str) -> VenueLayout | None:
        """The venue's sections, rows and drawing, at its current layout revision (one
        statement, so they are of one revision)."""
        rows = await self._pool.fetch(
            """
            SELECT s.id AS section_id, s.name, s.x, s.y, s.rotation, r.id AS row_id, r.seat_count,
                   v.stage_x, v.stage_y, v.stage_width, v.stage_height, v.layout_revision
            FROM venues v
            JOIN sections s ON s.venue_id = v.id
            JOIN seat_rows r ON r.venue_id = s.venue_id AND r.section_id = s.id
            WHERE v.id = $1 ORDER BY s.position, r.position
            """,
            venue_id,
        )
        if not rows:
            return None
        sections: dict[str, tuple[asyncpg.Record, list[tuple[str, int]]]] = {}
        for r in rows:
            sections.setdefault(r["section_id"], (r, []))[1].append((r["row_id"], r["seat_count"]))
        first = rows[0]
        stage = None
        if first["stage_x"] is not None:
            stage = Stage(first["stage_x"], first["stage_y"], first["stage_width"], first["stage_height"])
        return VenueLayout(
            venue_id=venue_id,
            sections=tuple(
                SectionLayout(
                    sid,
                    s["name"],
                    tuple(srows),
                    None if s["x"] is None else Geometry(s["x"], s["y"], s["rotation"]),
                )
                for sid, (s, srows) in sections.items()
            ),
            stage=stage,
            revision=first["layout_revision"],
        )

    async def acknowledged_generation(self, event_id: str) -> int:
        """The highest gate generation recorded for the event: by a hold's commit, a
        purchase start or a sale (adapters/redis/generations.py); 0 when none."""
        found = await self._pool.fetchval(
            """
            SELECT GREATEST(
                (SELECT max(gate_generation) FROM holds WHERE event_id = $1),
                (SELECT generation FROM event_generations WHERE event_id = $1))
            """,
            event_id,
        )
        return int(found or 0)

    async def record_generation(self, event_id: str, generation: int) -> None:
        """Record that a purchase start or a sale of the event reached ``generation``."""
        await self._pool.execute(
            """
            INSERT INTO event_generations (event_id, generation) VALUES ($1, $2)
            ON CONFLICT (event_id) DO UPDATE
                SET generation = GREATEST(event_generations.generation, excluded.generation)
            """,
            event_id,
            generation,
        )

    async def has_hold_history(self, event_id: str) -> bool:
        """Whether any hold of the event was ever written."""
        found = await self._pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM hold_seats WHERE event_id = $1)", event_id
        )
        return bool(found)

    async def live_state(self, event_id: str) -> tuple[list[tuple[str, str]], list[BlockingHold]]:
        """(seat, buyer) of each seat sold to a live booking, and the holds that still block
        seats (one snapshot)."""
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            sold = await conn.fetch(
                """
                SELECT s.seat_id, b.user_id FROM booking_seats s JOIN bookings b ON b.id = s.booking_id
                WHERE s.event_id = $1 AND s.live
                """,
                event_id,
            )
            holds = await conn.fetch(
                f"""
                SELECT h.id, h.event_id, h.user_id, h.status,
                       (extract(epoch FROM {BLOCKS_UNTIL}) * 1000)::bigint AS until_ms,
                       array(SELECT s.seat_id FROM hold_seats s WHERE s.hold_id = h.id) AS seat_ids
                FROM holds h
                WHERE h.event_id = $1 AND h.status IN ('ACTIVE', 'PURCHASING') AND {BLOCKS_UNTIL} > now()
                """,
                event_id,
            )
        return [(r["seat_id"], r["user_id"]) for r in sold], [blocking_hold(r) for r in holds]


class HoldWriter:
    """Group commit: concurrent hold writes share one transaction (and one fsync).

    ``write`` returns only after the row is durable (or raises: CommitInDoubt when the
    commit may have happened), so the API can keep its promise that a 201 means the hold
    survives any crash.
    """

    # One writer by default: holds decided while a commit is in flight wait for it and go
    # together in the next one. On the hold benchmark a second writer halved the batches and
    # cost ~30 % more PostgreSQL and ~10 % more API CPU per hold, for no lower latency.
    def __init__(self, repo: PostgresHoldRepository, *, writers: int = 1, max_batch: int = 128) -> None:
        self._repo = repo
        self._queue: asyncio.Queue[tuple[NewHold, asyncio.Future[WriteOutcome]]] = asyncio.Queue()
        self._concurrency = writers
        self._max_batch = max_batch
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name=f"hold-writer-{i}") for i in range(self._concurrency)
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def write_hold(self, hold: Hold, idempotency_key: str, generation: int = 0) -> WriteOutcome:
        return await self.write(NewHold(hold, idempotency_key, generation))

    async def write(self, new: NewHold) -> WriteOutcome:
        if not self._tasks:
            return (await self._repo.insert_many([new]))[new.hold.id]
        future: asyncio.Future[WriteOutcome] = asyncio.get_running_loop().create_future()
        await self._queue.put((new, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            # One turn of the loop lets holds decided in the same instant join this commit.
            await asyncio.sleep(0)
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            HOLD_WRITE_BATCH.observe(len(batch))
            try:
                outcomes = await self._repo.insert_many([item for item, _ in batch])
            except _LOST as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            except Exception:
                # One bad row must not fail its neighbours: retry them one by one.
                log.exception("batched hold insert failed; retrying rows singly")
                for item, future in batch:
                    try:
                        outcome = (await self._repo.insert_many([item]))[item.hold.id]
                    except Exception as exc:
                        if not future.done():
                            future.set_exception(exc)
                    else:
                        if not future.done():
                            future.set_result(outcome)
                continue
            for item, future in batch:
                if not future.done():
                    future.set_result(outcomes[item.hold.id])


def blocking_hold(row: asyncpg.Record) -> BlockingHold:
    return BlockingHold(
        row["id"],
        row["event_id"],
        row["user_id"],
        HoldStatus(row["status"]),
        int(row["until_ms"]),
        tuple(row["seat_ids"]),
    )


class PostgresExpiryRepository:
    """The durable side of expiry: ACTIVE holds past ``expires_at`` become EXPIRED."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def settle(self, hold_id: str) -> BlockingHold | None:
        """Mark the hold EXPIRED if it is ACTIVE and past expiry; return it as it now
        stands (whatever its status), or None when there is no such hold."""
        row = await self._pool.fetchrow(
            f"""
            WITH expired AS (
                UPDATE holds SET status = 'EXPIRED', updated_at = now()
                WHERE id = $1 AND status = 'ACTIVE' AND expires_at <= now()
                RETURNING id
            )
            SELECT h.id, h.event_id, h.user_id,
                   CASE WHEN EXISTS (SELECT 1 FROM expired) THEN 'EXPIRED' ELSE h.status END AS status,
                   (extract(epoch FROM {BLOCKS_UNTIL}) * 1000)::bigint AS until_ms,
                   array(SELECT s.seat_id FROM hold_seats s WHERE s.hold_id = h.id) AS seat_ids
            FROM holds h WHERE h.id = $1
            """,
            hold_id,
        )
        return None if row is None else blocking_hold(row)

    async def settle_many(self, hold_ids: list[str]) -> set[str]:
        """Mark the given ACTIVE holds past expiry EXPIRED in one commit; returns the ids
        that are now in a final state (EXPIRED, CANCELLED, PURCHASED)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """
                UPDATE holds SET status = 'EXPIRED', updated_at = now()
                WHERE id = ANY($1::text[]) AND status = 'ACTIVE' AND expires_at <= now()
                """,
                hold_ids,
            )
            rows = await conn.fetch(
                "SELECT id FROM holds WHERE id = ANY($1::text[])"
                " AND status IN ('EXPIRED', 'CANCELLED', 'PURCHASED')",
                hold_ids,
            )
        return {r["id"] for r in rows}

    async def peek(self, hold_id: str) -> BlockingHold | None:
        """The hold as it stands (a read: the release must not wait for a commit)."""
        row = await self._pool.fetchrow(
            f"""
            SELECT h.id, h.event_id, h.user_id, h.status,
                   (extract(epoch FROM {BLOCKS_UNTIL}) * 1000)::bigint AS until_ms,
                   array(SELECT s.seat_id FROM hold_seats s WHERE s.hold_id = h.id) AS seat_ids
            FROM holds h WHERE h.id = $1
            """,
            hold_id,
        )
        return None if row is None else blocking_hold(row)

    async def overdue(self, limit: int = 500) -> list[tuple[str, str]]:
        """(hold id, event id) of ACTIVE holds already past expiry (the durable safety net)."""
        rows = await self._pool.fetch(
            """
            SELECT id, event_id FROM holds
            WHERE status = 'ACTIVE' AND expires_at <= now()
            ORDER BY expires_at LIMIT $1
            """,
            limit,
        )
        return [(r["id"], r["event_id"]) for r in rows]
