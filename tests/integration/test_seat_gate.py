"""RedisSeatGate and HoldWriter against real Redis and PostgreSQL: the Lua scripts'
contracts (all-or-none, safe release, replay), the rebuild from PostgreSQL after Redis
lost its state, the single loader, and the group-committed hold writes. Every test that
uses the ``world`` runs on one Redis node and on a 3-primary Redis Cluster."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import pytest
import redis.asyncio as redis

from tests.integration.seat_world import TTL_MS, World, a_hold, at_ms, ms, sell, users
from ticketmaster.adapters.postgres.holds import HoldWriter, NewHold, PostgresHoldRepository
from ticketmaster.adapters.redis.client import RedisClient
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.adapters.redis.lua import load_script
from ticketmaster.adapters.redis.seat_gate import RedisSeatGate
from ticketmaster.adapters.redis.seat_loader import LOAD_LOCK_MS, EventStateLoader
from ticketmaster.domain.errors import Unavailable
from ticketmaster.domain.gate import GateResult, Outcome
from ticketmaster.domain.holds import (
    MAX_SEATS_PER_USER_PER_EVENT,
    BlockingHold,
    HoldStatus,
    WriteOutcome,
    fingerprint,
)
from ticketmaster.domain.ids import new_id
from ticketmaster.domain.layout import EventInfo, VenueLayout


@pytest.fixture
def world(world_on_either: World) -> World:
    """The seat-gate world (tests/integration/seat_world.py) on one node or a Cluster."""
    return world_on_either


# --- the hold and release scripts ------------------------------------------------------------


async def test_a_hold_takes_every_seat_or_none(world: World) -> None:
    s = world.seats
    first = await world.hold([s[0], s[1]], user="usr_1")
    assert first.outcome is Outcome.OK
    version = await world.version()

    clash_id = new_id("hold")
    clash = await world.hold([s[2], s[1], s[3], s[0]], user="usr_2", hold_id=clash_id)

    assert clash.outcome is Outcome.UNAVAILABLE
    assert sorted(clash.unavailable) == sorted([s[0], s[1]])
    assert await world.states() == {
        s[0]: f"{first.hold_id}|{first.expires_at_ms}",
        s[1]: f"{first.hold_id}|{first.expires_at_ms}",
    }
    assert await world.version() == version
    assert not await world.gate.hold_exists(world.event_id, clash_id)
    # The seats the refused request wanted but that were free are still free.
    assert (await world.hold([s[2], s[3]], user="usr_2")).outcome is Outcome.OK


async def test_a_release_frees_only_seats_still_pointing_at_that_hold(world: World) -> None:
    s = world.seats
    first = await world.hold([s[0], s[1]], user="usr_1")
    assert await world.gate.release(world.event_id, first.hold_id, "usr_1", (s[0], s[1])) == 2
    second = await world.hold([s[1], s[2]], user="usr_2")
    assert second.outcome is Outcome.OK
    before = (await world.states(), await world.version())

    late = await world.gate.release(world.event_id, first.hold_id, "usr_1", (s[0], s[1]))

    assert late == 0
    assert (await world.states(), await world.version()) == before
    assert await world.states() == {
        s[1]: f"{second.hold_id}|{second.expires_at_ms}",
        s[2]: f"{second.hold_id}|{second.expires_at_ms}",
    }
    assert await world.gate.hold_exists(world.event_id, second.hold_id)
    # A release naming seats beyond its own hold cannot free them either.
    assert await world.gate.release(world.event_id, first.hold_id, "usr_1", (s[1], s[2], s[3])) == 0
    assert (await world.hold([s[2]], user="usr_3")).outcome is Outcome.UNAVAILABLE


async def test_a_reused_key_replays_the_first_hold_and_changes_nothing(world: World) -> None:
    s = world.seats
    first = await world.hold([s[4], s[5]], key="key-1")
    before = (await world.states(), await world.version())

    again = await world.hold([s[4], s[5]], key="key-1")
    other_body = await world.hold([s[6]], key="key-1")

    assert again.outcome is Outcome.REPLAY
    assert (again.hold_id, again.expires_at_ms) == (first.hold_id, first.expires_at_ms)
    assert again.fingerprint == fingerprint(world.event_id, (s[4], s[5]))
    assert other_body.outcome is Outcome.REPLAY
    assert other_body.hold_id == first.hold_id
    assert other_body.fingerprint != fingerprint(world.event_id, (s[6],))
    assert (await world.states(), await world.version()) == before


async def test_a_buyer_is_limited_to_eight_live_seats_per_event(world: World) -> None:
    s = world.seats
    five = await world.hold(s[0:5], user="usr_1")
    three = await world.hold(s[5:8], user="usr_1")
    assert (five.outcome, three.outcome) == (Outcome.OK, Outcome.OK)

    over = await world.hold([s[8]], user="usr_1")

    assert over.outcome is Outcome.LIMIT
    assert over.already_held == 8
    assert s[8] not in await world.states()
    await world.gate.release(world.event_id, three.hold_id, "usr_1", tuple(s[5:8]))
    assert (await world.hold(s[8:11], user="usr_1")).outcome is Outcome.OK


async def test_a_refusal_says_whether_redis_has_every_idempotency_record(world: World) -> None:
    """Fresh event: a key Redis does not know is new, so a 409 needs no PostgreSQL lookup.
    After Redis lost a state in which holds had been made, it cannot know that."""
    (buyer, rival) = await users(world.pool, 2)
    first = await world.hold([world.seats[0]], user=buyer, key="k-1")
    assert first.outcome is Outcome.OK
    await world.repo.insert_many(
        [
            NewHold(
                a_hold(
                    world.event_id,
                    buyer,
                    [world.seats[0]],
                    expires_at=datetime.now(UTC) + timedelta(minutes=1),
                    hold_id=first.hold_id,
                ),
                "k-1",
            )
        ]
    )

    refused = await world.hold([world.seats[0]], user=rival)
    assert refused.outcome is Outcome.UNAVAILABLE
    assert refused.records_complete

    await world.wipe()
    after_loss = await world.hold([world.seats[0]], user=rival)
    over_limit = await world.hold(world.seats[1:10], user=rival)

    assert after_loss.outcome is Outcome.UNAVAILABLE
    assert after_loss.unavailable == (world.seats[0],)
    assert not after_loss.records_complete
    assert over_limit.outcome is Outcome.LIMIT
    assert not over_limit.records_complete


async def _lapsed_hold(world: World, seat: str) -> GateResult:
    """A 50 ms hold of the seat by usr_1, once it has lapsed on Redis's clock."""
    fp = fingerprint(world.event_id, (seat,))
    short = await world.gate.hold(world.event_id, new_id("hold"), "usr_1", (seat,), 50, fp, "k-short")
    assert short.outcome is Outcome.OK
    deadline = short.expires_at_ms + 5_000
    while True:
        seconds, micros = await world.redis.time()
        now = int(seconds) * 1000 + int(micros) // 1000
        if now > short.expires_at_ms:
            return short
        assert now < deadline
        await asyncio.sleep(0.005)


async def test_an_expired_hold_no_longer_blocks_its_seats(world: World) -> None:
    s = world.seats
    short = await _lapsed_hold(world, s[0])

    taken = await world.hold([s[0]], user="usr_2")

    assert taken.outcome is Outcome.OK
    assert (await world.states())[s[0]] == f"{taken.hold_id}|{taken.expires_at_ms}"
    # The late release of the expired hold leaves the new holder alone.
    assert await world.gate.release(world.event_id, short.hold_id, "usr_1", (s[0],)) == 0
    assert (await world.states())[s[0]].startswith(taken.hold_id + "|")


async def test_a_change_after_a_hold_lapsed_rewrites_the_row_summary_made_before(world: World) -> None:
    """seat_state.lua writes only what differs from a row's summary copy: a hold that lapsed
    since the summary was made changes it more than the seat that changed (row A: 4 and 5
    seats around a lapsed hold, then 9 seats after a hold on seat 1)."""
    s = world.seats
    await _lapsed_hold(world, s[4])

    assert (await world.hold([s[0]], user="usr_2")).outcome is Outcome.OK

    assert await world.gate.index_problems(world.event_id) == {}


async def test_a_row_without_a_summary_copy_has_its_summary_written_whole(world: World) -> None:
    """A row stored without the copy (by an older version) gets one at its next change."""
    rows = world.keys.seat_rows(world.event_id)
    assert (await world.hold([world.seats[0]])).outcome is Outcome.OK
    await world.redis.hdel(rows, "=0")
    await world.redis.delete(world.keys.row_fits(world.event_id))

    assert (await world.hold([world.seats[5]], user="usr_2")).outcome is Outcome.OK

    assert await world.redis.hget(rows, "=0") is not None
    problems = await world.gate.index_problems(world.event_id)
    assert set(problems) == {1}  # row B lost its fits with the deletion and was not changed


async def test_one_call_frees_every_lapsed_hold_of_an_event_and_nothing_else(world: World) -> None:
    """expire_due.lua: two lapsed holds freed together (one version bump), a live hold and a
    newer hold on a lapsed hold's seat untouched, a due hold without a seat record reported."""
    s = world.seats

    async def hold(seats: list[str], user: str, ttl_ms: int) -> GateResult:
        fp = fingerprint(world.event_id, tuple(seats))
        reply = await world.gate.hold(
            world.event_id, new_id("hold"), user, tuple(seats), ttl_ms, fp, new_id("k")
        )
        assert reply.outcome is Outcome.OK
        return reply

    first = await hold([s[0], s[1]], "usr_1", 40)
    second = await hold([s[2]], "usr_2", 40)
    live = await hold([s[3]], "usr_3", 60_000)
    orphan = new_id("hold")  # due in the expiries set, but Redis has no record of its seats
    await world.redis.zadd(world.keys.expiries(world.event_id), {orphan: 1})
    seconds, micros = await world.redis.time()
    while int(seconds) * 1000 + int(micros) // 1000 <= max(first.expires_at_ms, second.expires_at_ms):
        await asyncio.sleep(0.005)
        seconds, micros = await world.redis.time()
    newer = await hold([s[2]], "usr_4", 60_000)  # the seat of a lapsed hold, taken again
    version = await world.version()

    due = await world.gate.expire_due(world.event_id, 100)

    assert sorted(due.released) == sorted(
        [(first.hold_id, first.expires_at_ms, 2), (second.hold_id, second.expires_at_ms, 0)]
    )
    assert due.unknown == [orphan]
    assert due.next_due_ms == min(live.expires_at_ms, newer.expires_at_ms)
    states = await world.states()
    assert s[0] not in states
    assert s[1] not in states
    assert states[s[2]].startswith(newer.hold_id + "|")
    assert states[s[3]].startswith(live.hold_id + "|")
    assert await world.version() == version + 1
    again = await world.gate.expire_due(world.event_id, 100)
    assert (again.released, again.unknown) == ([], [orphan])
    assert await world.version() == version + 1


# --- rebuilding from PostgreSQL ----------------------------------------------------------------


async def test_the_state_is_rebuilt_from_postgres_after_redis_lost_it(world: World) -> None:
    s = world.seats
    buyer, other, third = await users(world.pool, 3)
    now = datetime.now(UTC)
    later = at_ms(ms(now) + 120_000)
    earlier = at_ms(ms(now) - 5_000)
    live = a_hold(world.event_id, buyer, [s[0], s[1]], expires_at=later)
    expired = a_hold(world.event_id, other, [s[2]], expires_at=earlier)
    cancelled = a_hold(world.event_id, other, [s[3]], expires_at=later, status=HoldStatus.CANCELLED)
    paying = a_hold(world.event_id, third, [s[4]], expires_at=earlier)
    sold = a_hold(world.event_id, third, [s[5], s[6]], expires_at=earlier, status=HoldStatus.PURCHASED)
    voided = a_hold(world.event_id, other, [s[7]], expires_at=earlier, status=HoldStatus.PURCHASED)
    holds = [live, expired, cancelled, paying, sold, voided]
    outcomes = await world.repo.insert_many([NewHold(h, f"key-{i}") for i, h in enumerate(holds)])
    assert set(outcomes.values()) == {WriteOutcome.INSERTED}
    deadline = at_ms(ms(now) + 90_000)
    await world.pool.execute(
        "UPDATE holds SET status = 'PURCHASING', payment_deadline = $2 WHERE id = $1", paying.id, deadline
    )
    await sell(world.pool, sold, live=True)
    await sell(world.pool, voided, live=False)
    # Redis knew the event, then lost everything (a restart without persistence).
    assert (await world.hold([s[9]], user=buyer)).outcome is Outcome.OK
    version_before = await world.version()
    await world.wipe()
    assert await world.states() == {}

    snap = await world.gate.snapshot(world.event_id)

    assert snap.states == {
        s[0]: f"{live.id}|{ms(later)}",
        s[1]: f"{live.id}|{ms(later)}",
        s[4]: f"{paying.id}|{ms(deadline)}",
        s[5]: "SOLD",
        s[6]: "SOLD",
    }
    assert snap.version > version_before
    assert await world.gate.hold_exists(world.event_id, live.id)
    assert await world.gate.hold_exists(world.event_id, paying.id)
    assert not await world.gate.hold_exists(world.event_id, expired.id)
    assert not await world.gate.hold_exists(world.event_id, cancelled.id)
    # The rebuilt gate refuses what is taken and grants what is free.
    blocked = await world.hold([s[0], s[4], s[5], s[8]], user=other)
    assert blocked.outcome is Outcome.UNAVAILABLE
    assert sorted(blocked.unavailable) == sorted([s[0], s[4], s[5]])
    assert (await world.hold([s[2], s[3], s[7]], user=other)).outcome is Outcome.OK
    # The rebuilt per-user count still knows the live hold's two seats.
    limited = await world.hold(s[10:17], user=buyer)
    assert limited.outcome is Outcome.LIMIT
    assert limited.already_held == 2


async def test_bought_seats_count_toward_the_limit_and_survive_a_rebuild(world: World) -> None:
    s = world.seats
    buyer, other = await users(world.pool, 2)
    paid = await world.hold(s[0:5], user=buyer)
    assert paid.outcome is Outcome.OK
    sold = a_hold(world.event_id, buyer, s[0:5], expires_at=at_ms(paid.expires_at_ms), hold_id=paid.hold_id)
    await world.repo.insert_many([NewHold(sold, "key-paid")])
    await sell(world.pool, sold, live=True)
    await world.pool.execute("UPDATE holds SET status = 'PURCHASED' WHERE id = $1", paid.hold_id)
    assert await world.gate.sell(world.event_id, paid.hold_id, buyer, tuple(s[0:5])) == 5
    assert await world.gate.sell(world.event_id, paid.hold_id, buyer, tuple(s[0:5])) == 0  # counted once

    over = await world.hold(s[5:9], user=buyer)
    at_limit = await world.hold(s[5:8], user=buyer)
    await world.wipe()
    rebuilt_over = await world.hold(s[8:12], user=buyer)  # the Redis-only hold is gone

    assert (over.outcome, over.already_held, over.already_bought) == (Outcome.LIMIT, 0, 5)
    assert at_limit.outcome is Outcome.OK
    assert (rebuilt_over.outcome, rebuilt_over.already_held, rebuilt_over.already_bought) == (
        Outcome.LIMIT,
        0,
        5,
    )
    assert (await world.hold(s[8:9], user=other)).outcome is Outcome.OK
    # An event's own limit, passed per call, replaces the gate's default.
    larger = await world.gate.hold(
        world.event_id, new_id("hold"), buyer, tuple(s[12:16]), TTL_MS, "fp", "k-9", max_seats=9
    )
    assert larger.outcome is Outcome.OK


@dataclass
class CountingSource:
    """The real repository, counting how often the gate asks it for an event's live state."""

    repo: PostgresHoldRepository
    calls: int = 0

    async def live_state(self, event_id: str) -> tuple[list[tuple[str, str]], list[BlockingHold]]:
        self.calls += 1
        return await self.repo.live_state(event_id)

    async def has_hold_history(self, event_id: str) -> bool:
        return await self.repo.has_hold_history(event_id)

    async def acknowledged_generation(self, event_id: str) -> int:
        return await self.repo.acknowledged_generation(event_id)

    async def record_generation(self, event_id: str, generation: int) -> None:
        await self.repo.record_generation(event_id, generation)

    async def event_info(self, event_id: str) -> EventInfo | None:
        return await self.repo.event_info(event_id)

    async def venue_layout(self, venue_id: str) -> VenueLayout | None:
        return await self.repo.venue_layout(venue_id)


async def test_two_hundred_concurrent_loads_install_the_event_once(world: World) -> None:
    source = CountingSource(world.repo)
    gate = RedisSeatGate(world.redis, world.keys, source, max_seats_per_user=MAX_SEATS_PER_USER_PER_EVENT)
    (buyer,) = await users(world.pool, 1)
    expires_at = at_ms(ms(datetime.now(UTC)) + 120_000)  # holds expire on whole milliseconds
    live = a_hold(world.event_id, buyer, [world.seats[3]], expires_at=expires_at)
    await world.repo.insert_many([NewHold(live, "key-1")])

    await asyncio.gather(*(gate.ensure_loaded(world.event_id) for _ in range(200)))

    assert source.calls == 1
    snap = await gate.snapshot(world.event_id)
    assert snap.states == {world.seats[3]: f"{live.id}|{ms(live.expires_at)}"}
    assert source.calls == 1
    assert not await world.redis.exists(world.keys.loading_lock(world.event_id))


class LosesTheFirstUnlock:
    """The real client, but the first free of a load lock never reaches Redis (a reply or a
    connection lost just after the load), as when a primary fails over mid-load."""

    def __init__(self, client: RedisClient) -> None:
        self._client = client
        self.lost = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def register_script(self, source: str) -> Any:
        script = self._client.register_script(source)
        if "load_lock.lua" not in source:
            return script

        async def call(keys: list[str], args: list[str | int]) -> Any:
            if args[1] == 0 and not self.lost:
                self.lost += 1
                raise redis.ConnectionError("connection lost before the unlock")
            return await script(keys=keys, args=args)

        return call


async def test_a_load_lock_left_by_another_process_is_waited_out_not_failed(world: World) -> None:
    source = CountingSource(world.repo)
    loader = EventStateLoader(world.redis, world.keys, source, load_script("load.lua"), with_holds=_no_holds)
    lock = world.keys.loading_lock(world.event_id)
    await world.redis.set(lock, "a-process-that-died", px=300)

    await loader.ensure_loaded(world.event_id)

    assert source.calls == 1
    assert await world.redis.exists(world.keys.loaded(world.event_id))
    assert not await world.redis.exists(lock)


async def test_a_load_lock_this_process_failed_to_free_is_taken_over_at_once(world: World) -> None:
    source = CountingSource(world.repo)
    client = LosesTheFirstUnlock(world.redis)
    loader = EventStateLoader(
        cast(RedisClient, client), world.keys, source, load_script("load.lua"), with_holds=_no_holds
    )
    lock = world.keys.loading_lock(world.event_id)
    with pytest.raises(redis.ConnectionError):
        await loader.ensure_loaded(world.event_id)
    assert client.lost == 1
    assert await world.redis.pttl(lock) > 0  # left behind, still live
    await world.redis.delete(world.keys.loaded(world.event_id))  # the event must load again

    # Well inside the lock's lifetime: a process never waits for its own lock.
    await asyncio.wait_for(loader.ensure_loaded(world.event_id), timeout=LOAD_LOCK_MS / 3000)

    assert source.calls == 2
    assert await world.redis.exists(world.keys.loaded(world.event_id))
    assert not await world.redis.exists(lock)


async def _no_holds(event_id: str) -> None:
    """A loader's hook for an event with live holds: these events have none."""


class ForgetsTheEventBeforeEachRetime:
    """The real client, but the event's state is gone again before every retime script runs
    (as when Redis keeps losing it: keys flushed, a failover under way)."""

    def __init__(self, client: RedisClient, loaded_key: str) -> None:
        self._client = client
        self._loaded_key = loaded_key
        self.retimes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def register_script(self, source: str) -> Any:
        script = self._client.register_script(source)
        if source != load_script("retime.lua"):
            return script

        async def call(keys: list[str], args: list[str | int]) -> Any:
            self.retimes += 1
            await self._client.delete(self._loaded_key)
            return await script(keys=keys, args=args)

        return call


async def test_a_seat_state_redis_keeps_losing_is_unavailable_and_changes_nothing(world: World) -> None:
    (buyer,) = await users(world.pool, 1)
    expires_at = at_ms(ms(datetime.now(UTC)) + 120_000)  # holds expire on whole milliseconds
    live = a_hold(world.event_id, buyer, [world.seats[0]], expires_at=expires_at)
    await world.repo.insert_many([NewHold(live, "key-1")])
    await world.gate.ensure_loaded(world.event_id)
    before = await world.states()
    assert before == {world.seats[0]: f"{live.id}|{ms(live.expires_at)}"}
    client = ForgetsTheEventBeforeEachRetime(world.redis, world.keys.loaded(world.event_id))
    gate = RedisSeatGate(
        cast(RedisClient, client), world.keys, world.repo, max_seats_per_user=MAX_SEATS_PER_USER_PER_EVENT
    )

    with pytest.raises(Unavailable):
        await gate.retime(
            world.event_id,
            live.id,
            buyer,
            live.seat_ids,
            status=HoldStatus.PURCHASING,
            expires_at_ms=ms(live.expires_at) + 60_000,
            require_live=True,
        )

    assert client.retimes == 3  # a rebuild before each of the last two
    assert await world.states() == before


async def test_concurrent_holds_on_an_unloaded_event_load_it_once(world: World) -> None:
    source = CountingSource(world.repo)
    gate = RedisSeatGate(world.redis, world.keys, source, max_seats_per_user=MAX_SEATS_PER_USER_PER_EVENT)
    s = world.seats

    async def one(i: int) -> GateResult:
        seat = (s[i % 20],)
        return await gate.hold(
            world.event_id, new_id("hold"), f"usr_{i}", seat, TTL_MS, fingerprint(world.event_id, seat), "k"
        )

    results = await asyncio.gather(*(one(i) for i in range(60)))

    assert source.calls == 1
    granted = [r for r in results if r.outcome is Outcome.OK]
    assert len(granted) == 20
    assert {r.outcome for r in results} == {Outcome.OK, Outcome.UNAVAILABLE}
    assert len(await world.states()) == 20


# --- group commit --------------------------------------------------------------------------------


@dataclass
class CountingRepo:
    """The real repository, counting the transactions the writer opens."""

    repo: PostgresHoldRepository
    batches: list[int]

    async def insert_many(self, batch: list[NewHold]) -> dict[str, str]:
        self.batches.append(len(batch))
        return await self.repo.insert_many(batch)


async def stored(pool: asyncpg.Pool, event_id: str) -> dict[str, tuple[str, str, datetime, frozenset[str]]]:
    rows = await pool.fetch(
        """
        SELECT h.id, h.user_id, h.idempotency_key, h.expires_at,
               array(SELECT s.seat_id FROM hold_seats s WHERE s.hold_id = h.id) AS seats
        FROM holds h WHERE h.event_id = $1
        """,
        event_id,
    )
    return {
        r["id"]: (r["user_id"], r["idempotency_key"], r["expires_at"], frozenset(r["seats"])) for r in rows
    }


async def test_two_hundred_concurrent_writes_are_all_durable_in_few_transactions(world: World) -> None:
    counting = CountingRepo(world.repo, [])
    writer = HoldWriter(counting)  # type: ignore[arg-type]
    writer.start()
    try:
        buyers = await users(world.pool, 20)
        expires = at_ms(ms(datetime.now(UTC)) + TTL_MS)
        holds = [
            (a_hold(world.event_id, buyers[i % 20], [world.seats[i % 20]], expires_at=expires), f"k-{i}")
            for i in range(200)
        ]

        outcomes = await asyncio.gather(*(writer.write_hold(h, key) for h, key in holds))
    finally:
        await writer.stop()

    assert outcomes == [WriteOutcome.INSERTED] * 200
    assert sum(counting.batches) == 200
    assert len(counting.batches) < 200 // 4, counting.batches
    assert await stored(world.pool, world.event_id) == {
        h.id: (h.user_id, key, expires, frozenset(h.seat_ids)) for h, key in holds
    }


async def test_a_taken_idempotency_key_is_reported_without_failing_its_batch(world: World) -> None:
    writer = HoldWriter(world.repo)
    writer.start()
    try:
        buyer, other = await users(world.pool, 2)
        expires = datetime.now(UTC) + timedelta(minutes=1)
        s = world.seats
        original = a_hold(world.event_id, buyer, [s[0]], expires_at=expires)
        assert await writer.write_hold(original, "shared") == WriteOutcome.INSERTED
        duplicate = a_hold(world.event_id, buyer, [s[1]], expires_at=expires)
        neighbours = [a_hold(world.event_id, other, [s[i]], expires_at=expires) for i in range(2, 6)]

        outcomes = await asyncio.gather(
            writer.write_hold(duplicate, "shared"),
            *(writer.write_hold(h, f"n-{i}") for i, h in enumerate(neighbours)),
            writer.write_hold(original, "shared"),
            writer.write_hold(a_hold(world.event_id, other, [s[9]], expires_at=expires), "shared"),
        )
    finally:
        await writer.stop()

    assert outcomes == [
        WriteOutcome.KEY_TAKEN,
        *[WriteOutcome.INSERTED] * 4,
        WriteOutcome.PRESENT,
        WriteOutcome.INSERTED,  # the same key of another buyer is that buyer's own
    ]
    rows = await stored(world.pool, world.event_id)
    assert duplicate.id not in rows
    assert rows[original.id][3] == frozenset([s[0]])
    assert {h.id for h in neighbours} <= set(rows)
    assert await world.repo.by_idempotency_key(buyer, "shared") == original


async def test_the_hold_key_pattern_matches_hold_keys_of_its_namespace_only(
    redis_client: redis.Redis, namespace: str
) -> None:
    """The expiry listener subscribes with this glob: Redis filters what reaches it."""
    keys = RedisKeys(namespace + "*[odd]?")
    other = RedisKeys(namespace + "-other")
    hold_key = keys.hold("evt_1", "hold_1")
    decoys = [
        keys.seats("evt_1"),
        keys.idempotency("evt_1", "usr_1", "k"),
        other.hold("evt_1", "hold_1"),
        RedisKeys(namespace + "X[odd]?").hold("evt_1", "hold_1"),
    ]
    await redis_client.mset({k: "1" for k in [hold_key, *decoys]})
    try:
        found = [k async for k in redis_client.scan_iter(match=keys.hold_key_pattern(), count=1000)]
        assert found == [hold_key]
        assert keys.parse_hold_key(hold_key) == ("evt_1", "hold_1")
    finally:
        await redis_client.delete(hold_key, *decoys)
