"""A Redis state older than what the service acknowledged (adapters/redis/generations.py)
is found out and rebuilt from PostgreSQL before the gate decides anything about the event:
the state a promoted replica has when it missed its primary's last writes is made here by
restoring a DUMP of the event's keys taken before those writes, on one Redis node and on
a 3-primary Redis Cluster. "Another process" is a second gate over the same engines, whose
floor comes from PostgreSQL alone."""

from __future__ import annotations

import secrets

import pytest

from tests.integration.seat_world import TTL_MS, World, at_ms, sell, users
from ticketmaster.adapters.postgres.holds import NewHold, PostgresHoldRepository
from ticketmaster.adapters.redis.seat_gate import RedisSeatGate
from ticketmaster.domain.gate import GateResult, Outcome
from ticketmaster.domain.holds import (
    MAX_SEATS_PER_USER_PER_EVENT,
    BlockingHold,
    Hold,
    HoldStatus,
    fingerprint,
)
from ticketmaster.domain.ids import new_id
from ticketmaster.domain.layout import EventInfo, VenueLayout


@pytest.fixture
def world(world_on_either: World) -> World:
    """The seat-gate world (tests/integration/seat_world.py) on one node or a Cluster."""
    return world_on_either


async def checkpoint(world: World) -> dict[str, tuple[bytes, int]]:
    """The event loaded, and its keys as a replica has them that receives nothing more."""
    await world.gate.ensure_loaded(world.event_id)
    return await dump(world)


async def dump(world: World) -> dict[str, tuple[bytes, int]]:
    """Every key of the event as DUMP gives it, with its time to live (ms, 0: none)."""
    pattern = f"{world.keys.event_tag(world.event_id)}:*"
    saved: dict[str, tuple[bytes, int]] = {}
    async for key in world.redis.scan_iter(match=pattern, count=1000):
        if key == world.keys.loading_lock(world.event_id):
            continue
        value = await world.redis.dump(key)
        if value is not None:
            saved[key] = (value, max(0, int(await world.redis.pttl(key))))
    return saved


async def restore(world: World, saved: dict[str, tuple[bytes, int]]) -> None:
    """Put the event's keys back as ``saved`` had them: what a replica that missed every
    write since would hold after its promotion ("loaded" marker included)."""
    pattern = f"{world.keys.event_tag(world.event_id)}:*"
    now = [key async for key in world.redis.scan_iter(match=pattern, count=1000)]
    for key in now:  # one by one: a Cluster refuses a multi-key DEL across slots
        await world.redis.delete(key)
    for key, (value, ttl) in saved.items():
        await world.redis.restore(key, ttl, value)


async def durable_hold(world: World, user: str, seats: list[str]) -> tuple[Hold, GateResult]:
    """A hold granted by the world's gate and committed with its generation, as the API does
    before answering 201."""
    hold_id, key = new_id("hold"), secrets.token_hex(6)
    fp = fingerprint(world.event_id, tuple(seats))
    result = await world.gate.hold(world.event_id, hold_id, user, tuple(seats), TTL_MS, fp, key)
    assert result.outcome is Outcome.OK
    hold = Hold(
        hold_id,
        world.event_id,
        user,
        tuple(sorted(seats)),
        HoldStatus.ACTIVE,
        at_ms(result.expires_at_ms),
        fp,
    )
    await world.repo.insert_many([NewHold(hold, key, result.generation)])
    return hold, result


def another_process(world: World, source: object | None = None) -> RedisSeatGate:
    return RedisSeatGate(
        world.redis, world.keys, source or world.repo, max_seats_per_user=MAX_SEATS_PER_USER_PER_EVENT
    )  # type: ignore[arg-type]


async def try_hold(gate: RedisSeatGate, world: World, user: str, seats: list[str]) -> GateResult:
    fp = fingerprint(world.event_id, tuple(seats))
    return await gate.hold(
        world.event_id, new_id("hold"), user, tuple(seats), TTL_MS, fp, secrets.token_hex(6)
    )


async def test_a_hold_lost_with_a_failover_is_restored_before_another_process_decides(world: World) -> None:
    first, second = await users(world.pool, 2)
    s = world.seats
    before = await checkpoint(world)
    held, granted = await durable_hold(world, first, s[0:2])
    assert await world.repo.acknowledged_generation(world.event_id) == granted.generation
    await restore(world, before)  # the promoted replica never saw the hold
    assert await world.states() == {}

    refused = await try_hold(another_process(world), world, second, s[1:3])

    assert refused.outcome is Outcome.UNAVAILABLE
    assert refused.unavailable == (s[1],)
    assert await world.states() == {seat: f"{held.id}|{granted.expires_at_ms}" for seat in s[0:2]}


async def test_the_process_that_granted_a_lost_hold_finds_it_out_from_memory(world: World) -> None:
    first, second = await users(world.pool, 2)
    s = world.seats
    before = await checkpoint(world)
    # Granted, not yet committed: the floor of the process that granted it knows it already.
    granted = await world.hold(s[0:1], user=first)
    assert granted.outcome is Outcome.OK
    await restore(world, before)

    snapshot = await world.gate.snapshot(world.event_id)  # a seat-map read rebuilds too

    assert snapshot.states == {}  # PostgreSQL has no row of it: nothing to restore...
    assert int(await world.redis.get(world.keys.generation(world.event_id)) or 0) > granted.generation
    # ...and the rebuilt state is current: the next decision is made on it, not refused.
    assert (await world.hold(s[0:1], user=second)).outcome is Outcome.OK


async def test_a_sale_lost_with_a_failover_stays_sold(world: World) -> None:
    buyer, other = await users(world.pool, 2)
    s = world.seats
    before = await checkpoint(world)
    held, _ = await durable_hold(world, buyer, s[4:6])
    await world.pool.execute("UPDATE holds SET status = 'PURCHASED' WHERE id = $1", held.id)
    await sell(world.pool, held, live=True)
    assert await world.gate.sell(world.event_id, held.id, buyer, held.seat_ids) == 2
    await restore(world, before)  # neither the hold nor the sale reached the replica

    for gate in (another_process(world), world.gate):
        refused = await try_hold(gate, world, other, s[5:7])
        assert refused.outcome is Outcome.UNAVAILABLE
        assert refused.unavailable == (s[5],)
    assert {seat: (await world.states()).get(seat) for seat in s[4:6]} == {s[4]: "SOLD", s[5]: "SOLD"}


async def test_a_rebuild_merges_holds_redis_granted_since_instead_of_wiping_them(world: World) -> None:
    first, second, third = await users(world.pool, 3)
    s = world.seats
    before = await checkpoint(world)
    lost, lost_grant = await durable_hold(world, first, s[0:1])
    await durable_hold(world, first, s[1:2])
    await restore(world, before)  # two acknowledged holds lost
    # A process that has not read the floor yet grants a seat on the stale state; its commit
    # is in flight when the rebuild runs. (Had as many holds been granted on the stale state
    # as were lost, the counts would meet and hide the loss: hence the refresh period.)
    behind = another_process(world, Behind(world.repo))
    in_flight = await try_hold(behind, world, second, s[9:10])
    assert in_flight.outcome is Outcome.OK

    refused = await try_hold(another_process(world), world, third, s[0:1])

    assert refused.outcome is Outcome.UNAVAILABLE
    states = await world.states()
    assert states[s[0]] == f"{lost.id}|{lost_grant.expires_at_ms}"
    assert states[s[9]] == f"{in_flight.hold_id}|{in_flight.expires_at_ms}"


async def test_a_redis_restarted_from_an_older_snapshot_is_rebuilt_for_a_fresh_process(world: World) -> None:
    buyer, other = await users(world.pool, 2)
    s = world.seats
    before = await checkpoint(world)
    holds = [await durable_hold(world, buyer, [seat]) for seat in s[10:14]]
    await restore(world, before)

    fresh = another_process(world)
    snapshot = await fresh.snapshot(world.event_id)

    assert snapshot.states == {h.seat_ids[0]: f"{h.id}|{g.expires_at_ms}" for h, g in holds}
    assert (await try_hold(fresh, world, other, s[13:14])).outcome is Outcome.UNAVAILABLE


class Behind:
    """PostgreSQL as a process sees it that has not read the floor yet: no generation."""

    def __init__(self, repo: PostgresHoldRepository) -> None:
        self.repo = repo

    async def live_state(self, event_id: str) -> tuple[list[tuple[str, str]], list[BlockingHold]]:
        return await self.repo.live_state(event_id)

    async def has_hold_history(self, event_id: str) -> bool:
        return await self.repo.has_hold_history(event_id)

    async def event_info(self, event_id: str) -> EventInfo | None:
        return await self.repo.event_info(event_id)

    async def venue_layout(self, venue_id: str) -> VenueLayout | None:
        return await self.repo.venue_layout(venue_id)

    async def acknowledged_generation(self, event_id: str) -> int:
        return 0

    async def record_generation(self, event_id: str, generation: int) -> None:
        await self.repo.record_generation(event_id, generation)
