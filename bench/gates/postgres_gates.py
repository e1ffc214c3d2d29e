"""Gates b, c, d: three ways PostgreSQL alone can take a hold (row locks, a conditional
update, optimistic versions), on a table of their own."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from bench import machine
from bench.gates.gate import Attempt, Held, new_id

RELEASE_TRIES = 3

SCHEMA = """
CREATE TABLE bench_seats (
    event_id text   NOT NULL,
    seat_id  text   NOT NULL,
    status   text   NOT NULL CHECK (status IN ('AVAILABLE', 'HELD')),
    hold_id  text,
    version  bigint NOT NULL,
    PRIMARY KEY (event_id, seat_id)
)
"""
# Rows are locked in seat order, as the FOR UPDATE gate does: a plain multi-row UPDATE
# locks them in scan order (heap order on a small table) and deadlocks with the holds.
RELEASE_SQL = """
WITH mine AS (
    SELECT seat_id FROM bench_seats
    WHERE event_id = $1 AND seat_id = ANY($2::text[]) AND hold_id = $3
    ORDER BY seat_id
    FOR UPDATE
)
UPDATE bench_seats AS s SET status = 'AVAILABLE', hold_id = NULL, version = s.version + 1
FROM mine WHERE s.event_id = $1 AND s.seat_id = mine.seat_id
"""
LOCK_SQL = """
SELECT seat_id, status FROM bench_seats
WHERE event_id = $1 AND seat_id = ANY($2::text[])
ORDER BY seat_id
FOR UPDATE
"""
HOLD_LOCKED_SQL = """
UPDATE bench_seats SET status = 'HELD', hold_id = $3, version = version + 1
WHERE event_id = $1 AND seat_id = ANY($2::text[])
"""
COND_UPDATE_SQL = """
UPDATE bench_seats SET status = 'HELD', hold_id = $1, version = version + 1
WHERE event_id = $2 AND seat_id = ANY($3::text[]) AND status = 'AVAILABLE'
"""
READ_VERSIONS_SQL = """
SELECT seat_id, status, version FROM bench_seats
WHERE event_id = $1 AND seat_id = ANY($2::text[])
"""
VERSIONED_UPDATE_SQL = """
UPDATE bench_seats SET status = 'HELD', hold_id = $3, version = version + 1
WHERE event_id = $1 AND seat_id = $2 AND version = $4
"""
RETRYABLE_PG = (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError)


class _Rollback(Exception):
    """Raised inside a transaction block to roll it back: the seats are taken."""


def rowcount(status: str) -> int:
    """The row count of an asyncpg command status such as ``UPDATE 3``."""
    return int(status.rpartition(" ")[2])


class PostgresGate:
    name = ""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._event = ""
        self._backends: list[int] = []

    async def reset(self, event_id: str, seat_ids: Sequence[str]) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute("TRUNCATE bench_seats")
            await conn.execute(
                "INSERT INTO bench_seats SELECT $1, s, 'AVAILABLE', NULL, 0 FROM unnest($2::text[]) AS s",
                event_id,
                list(seat_ids),
            )
            await conn.execute("VACUUM ANALYZE bench_seats")
            self._backends = [
                r["pid"]
                for r in await conn.fetch(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> $1",
                    conn.get_server_pid(),
                )
            ]
        self._event = event_id

    async def try_hold(self, user: str, seat_ids: tuple[str, ...]) -> Attempt:
        raise NotImplementedError

    async def release(self, hold: Held) -> None:
        for attempt in range(RELEASE_TRIES):
            try:
                await self._pool.execute(RELEASE_SQL, self._event, list(hold.seat_ids), hold.hold_id)
                return
            except RETRYABLE_PG:
                if attempt == RELEASE_TRIES - 1:
                    raise

    async def server_cpu_seconds(self) -> float | None:
        total = 0.0
        for pid in self._backends:
            try:
                total += machine.process_cpu_seconds(pid)
            except (OSError, ValueError, IndexError):
                continue  # a backend replaced by the pool, or /proc not readable
        return total if self._backends else None


class ForUpdateGate(PostgresGate):
    name = "for-update"

    async def try_hold(self, user: str, seat_ids: tuple[str, ...]) -> Attempt:
        hold_id = new_id("hold")
        async with self._pool.acquire() as conn:
            try:
                async with conn.transaction():
                    rows = await conn.fetch(LOCK_SQL, self._event, list(seat_ids))
                    if len(rows) != len(seat_ids) or any(r["status"] != "AVAILABLE" for r in rows):
                        raise _Rollback
                    await conn.execute(HOLD_LOCKED_SQL, self._event, list(seat_ids), hold_id)
            except _Rollback:
                return Attempt(None)
        return Attempt(Held(hold_id, user, seat_ids))


class ConditionalUpdateGate(PostgresGate):
    name = "cond-update"

    async def try_hold(self, user: str, seat_ids: tuple[str, ...]) -> Attempt:
        hold_id = new_id("hold")
        async with self._pool.acquire() as conn:
            try:
                async with conn.transaction():
                    status = await conn.execute(COND_UPDATE_SQL, hold_id, self._event, list(seat_ids))
                    if rowcount(status) != len(seat_ids):
                        raise _Rollback
            except _Rollback:
                return Attempt(None)
        return Attempt(Held(hold_id, user, seat_ids))


class OptimisticGate(PostgresGate):
    name = "optimistic"

    def __init__(self, pool: asyncpg.Pool, *, max_retries: int) -> None:
        super().__init__(pool)
        self._max_retries = max_retries

    async def try_hold(self, user: str, seat_ids: tuple[str, ...]) -> Attempt:
        retries = 0
        async with self._pool.acquire() as conn:
            while True:
                rows = await conn.fetch(READ_VERSIONS_SQL, self._event, list(seat_ids))
                if len(rows) != len(seat_ids) or any(r["status"] != "AVAILABLE" for r in rows):
                    return Attempt(None, retries)
                versions = {r["seat_id"]: r["version"] for r in rows}
                hold_id = new_id("hold")
                try:
                    async with conn.transaction():
                        for seat in sorted(seat_ids):
                            status = await conn.execute(
                                VERSIONED_UPDATE_SQL, self._event, seat, hold_id, versions[seat]
                            )
                            if rowcount(status) != 1:
                                raise _Rollback
                except _Rollback:
                    if retries >= self._max_retries:
                        return Attempt(None, retries, gave_up=True)
                    retries += 1
                    continue
                return Attempt(Held(hold_id, user, seat_ids), retries)
