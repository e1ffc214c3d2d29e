"""Commits against a real PostgreSQL: a connection lost after a hold's statement was sent
or during a purchase's commit is reported as a commit in doubt (one lost before it is not),
and a void row settles a hold's doubt atomically against a commit of it in progress."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests.fleet import eventually
from tests.integration.seat_world import World, a_hold, users
from ticketmaster.adapters.postgres.holds import NewHold, PostgresHoldRepository
from ticketmaster.adapters.postgres.purchases import PostgresPurchaseRepository
from ticketmaster.domain.errors import CommitInDoubt
from ticketmaster.domain.holds import Hold, HoldStatus, WriteOutcome


async def insert_uncommitted(conn: asyncpg.Connection, hold: Hold) -> None:
    """The hold's row, in ``conn``'s open transaction: a second insert of its id waits."""
    await conn.execute(
        "INSERT INTO holds (id, event_id, user_id, status, expires_at, idempotency_key,"
        " request_fingerprint) VALUES ($1, $2, $3, 'ACTIVE', $4, 'first', $5)",
        hold.id,
        hold.event_id,
        hold.user_id,
        hold.expires_at,
        hold.fingerprint,
    )


async def blocked_behind(pool: asyncpg.Pool, blocker: int) -> bool | None:
    """Some backend is blocked behind ``blocker``'s open transaction."""
    blocked = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", blocker
    )
    return True if blocked else None


async def a_buyers_hold(world: World) -> Hold:
    (buyer,) = await users(world.pool, 1)
    expires = datetime.now(UTC) + timedelta(minutes=5)
    return a_hold(world.event_id, buyer, [world.seats[0]], expires_at=expires)


async def test_a_connection_lost_during_the_insert_is_a_commit_in_doubt(
    world: World, database_url: str
) -> None:
    hold = await a_buyers_hold(world)
    own = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    assert own is not None
    try:
        backend = await own.fetchval("SELECT pg_backend_pid()")
        async with world.pool.acquire() as blocker, blocker.transaction():
            await insert_uncommitted(blocker, hold)
            first = await blocker.fetchval("SELECT pg_backend_pid()")
            write = asyncio.create_task(PostgresHoldRepository(own).insert_many([NewHold(hold, "k")]))
            await eventually(lambda: blocked_behind(world.pool, first), within=10, what="the insert to wait")
            assert await world.pool.fetchval("SELECT pg_terminate_backend($1)", backend)
            with pytest.raises(CommitInDoubt):
                await write
    finally:
        await own.close()


async def test_a_connection_refused_before_the_insert_is_not_in_doubt(world: World) -> None:
    hold = await a_buyers_hold(world)
    nowhere = await asyncpg.create_pool("postgresql://postgres@127.0.0.1:9/none", min_size=0, max_size=1)
    assert nowhere is not None
    try:
        with pytest.raises(OSError, match=r"Connect call failed|Connection refused") as refused:
            await PostgresHoldRepository(nowhere).insert_many([NewHold(hold, "k")])
        assert not isinstance(refused.value, CommitInDoubt)
    finally:
        await nowhere.close()


@pytest.mark.parametrize("first_commits", [True, False])
async def test_a_void_waits_for_a_commit_of_the_same_hold_in_progress(
    world: World, first_commits: bool
) -> None:
    hold = await a_buyers_hold(world)
    async with world.pool.acquire() as first:
        tx = first.transaction()
        await tx.start()
        await insert_uncommitted(first, hold)
        backend = await first.fetchval("SELECT pg_backend_pid()")
        void = asyncio.create_task(world.repo.void_unless_present([hold]))
        await eventually(lambda: blocked_behind(world.pool, backend), within=10, what="the void to wait")
        assert not void.done()
        await (tx.commit() if first_commits else tx.rollback())
        voided = await void

    row = await world.repo.get(hold.id)
    assert row is not None
    if first_commits:  # the hold was made: it stays, untouched
        assert voided == set()
        assert row.status is HoldStatus.ACTIVE
        assert not row.is_void
    else:  # never made: void, invisible to its key, and no later commit can make it
        assert voided == {hold.id}
        assert row.is_void
        assert await world.repo.by_idempotency_key(hold.user_id, "first") is None
        assert await world.repo.insert_many([NewHold(hold, "first")]) == {hold.id: WriteOutcome.PRESENT}
        assert (await world.repo.get(hold.id)) == row


async def test_a_connection_lost_during_a_purchase_commit_is_a_commit_in_doubt(world: World) -> None:
    async def commit_after_the_backend_died() -> None:
        async with PostgresPurchaseRepository(world.pool).accepting() as tx:
            await tx.now()
            (backend,) = await world.pool.fetch(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND state = 'idle in transaction'"
            )
            assert await world.pool.fetchval("SELECT pg_terminate_backend($1)", backend["pid"])
            await eventually(lambda: gone(world.pool, backend["pid"]), within=10, what="the backend to end")

    with pytest.raises(CommitInDoubt):
        await commit_after_the_backend_died()


async def gone(pool: asyncpg.Pool, backend: int) -> bool | None:
    alive = await pool.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", backend)
    return True if alive == 0 else None
