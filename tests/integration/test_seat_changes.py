"""The seat change log against real Redis and PostgreSQL: every script that bumps the
version logs exactly the seats it changed under that version, ``changes_since`` replays
to what ``snapshot()`` shows, and anything it cannot vouch for (rebuild, gap, lost
version) sends the reader back to a snapshot; the seat-map renderer reads through it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import orjson
import pytest

from tests.integration.seat_world import World, a_hold, sell, users
from ticketmaster.adapters.postgres.holds import NewHold
from ticketmaster.adapters.redis import seat_gate, seat_loader
from ticketmaster.adapters.redis.catalog_cache import CatalogCache
from ticketmaster.adapters.redis.seat_gate import load_script
from ticketmaster.domain.gate import Outcome, RetimeResult, SeatChanges, SeatSnapshot
from ticketmaster.domain.holds import fingerprint
from ticketmaster.domain.ids import new_id
from ticketmaster.domain.reconcile import SeatFix
from ticketmaster.services.seat_map import SeatMapRenderer


def replay(states: dict[str, str], changes: SeatChanges) -> dict[str, str]:
    out = dict(states)
    for _, seats in changes.entries:
        for seat, raw in seats.items():
            if raw:
                out[seat] = raw
            else:
                out.pop(seat, None)
    return out


def diff(before: dict[str, str], after: dict[str, str]) -> dict[str, str]:
    """Seat -> new raw state ("" = AVAILABLE) of every seat whose state differs."""
    return {
        seat: after.get(seat, "")
        for seat in before.keys() | after.keys()
        if before.get(seat) != after.get(seat)
    }


async def redis_now_ms(world: World) -> int:
    seconds, micros = await world.redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def log(world: World) -> list[tuple[str, dict[str, str]]]:
    return list(await world.redis.xrange(world.keys.seat_changes(world.event_id)))


async def test_every_script_logs_exactly_the_seats_it_changed_and_the_log_replays_to_the_snapshot(
    world: World,
) -> None:
    s, event = world.seats, world.event_id
    gate = world.gate
    start = await gate.snapshot(event)
    a = await world.hold([s[0], s[1]], user="usr_a")
    b = await world.hold([s[2], s[3]], user="usr_b")
    d = await world.hold([s[5], s[6]], user="usr_d")
    e = await world.hold([s[7]], user="usr_e")
    short = await gate.hold(event, new_id("hold"), "usr_c", (s[4],), 50, fingerprint(event, (s[4],)), "k-c")
    assert {r.outcome for r in (a, b, d, e, short)} == {Outcome.OK}
    deadline = await redis_now_ms(world) + 60_000

    async def wait_for_lapse() -> None:
        while (now := await redis_now_ms(world)) <= short.expires_at_ms:
            assert now < short.expires_at_ms + 5_000
            await asyncio.sleep(0.005)

    def start_paying() -> Awaitable[RetimeResult]:
        seats = (s[5], s[6])
        return gate.retime(
            event, d.hold_id, "usr_d", seats, status="PURCHASING", expires_at_ms=deadline, require_live=True
        )

    steps: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("release", lambda: gate.release(event, a.hold_id, "usr_a", (s[0], s[1]))),
        ("release again (no change)", lambda: gate.release(event, a.hold_id, "usr_a", (s[0], s[1]))),
        ("let the short hold lapse", wait_for_lapse),
        ("expire", lambda: gate.expire(event, short.hold_id, "usr_c", (s[4],))),
        ("sell", lambda: gate.sell(event, b.hold_id, "usr_b", (s[2], s[3]))),
        ("sell again (no change)", lambda: gate.sell(event, b.hold_id, "usr_b", (s[2], s[3]))),
        ("retime to a payment deadline", start_paying),
        ("retime to the same deadline (version bump, no seat)", start_paying),
        (
            "retime into the past (release)",
            lambda: gate.retime(
                event, e.hold_id, "usr_e", (s[7],), status="ACTIVE", expires_at_ms=1, require_live=False
            ),
        ),
        (
            "reconcile",
            lambda: gate.apply_seat_fixes(
                event,
                [
                    SeatFix("sold_missing", s[8], "", "SOLD"),
                    SeatFix("sold_missing", s[9], "WRONG", "SOLD"),
                    SeatFix("orphan_hold", s[5], "", ""),
                ],
            ),
        ),
        ("hold", lambda: world.hold([s[0], s[9]], user="usr_f")),
    ]
    snaps: list[tuple[str, SeatSnapshot]] = [("start", await gate.snapshot(event))]
    for name, step in steps:
        await step()
        snaps.append((name, await gate.snapshot(event)))

    changes = await gate.changes_since(event, start.version)

    assert changes is not None
    end = snaps[-1][1]
    assert (changes.since, changes.version) == (start.version, end.version)
    assert [v for v, _ in changes.entries] == list(range(start.version + 1, end.version + 1))
    assert replay(start.states, changes) == end.states
    logged = dict(changes.entries)
    for (_, before), (name, after) in pairwise(snaps):
        if after.version == before.version:
            assert diff(before.states, after.states) == {}, name
            continue
        assert after.version == before.version + 1, name
        assert logged[after.version] == diff(before.states, after.states), name
    bumps = {name for (_, before), (name, after) in pairwise(snaps) if after.version > before.version}
    assert bumps == {
        "release",
        "expire",
        "sell",
        "retime to a payment deadline",
        "retime to the same deadline (version bump, no seat)",
        "retime into the past (release)",
        "reconcile",
        "hold",
    }
    # Every reader version in between replays too.
    for _, snap in snaps:
        partial = await gate.changes_since(event, snap.version)
        assert partial is not None
        assert replay(snap.states, partial) == end.states


async def test_a_rebuild_resets_the_log_and_readers_of_older_versions_take_a_snapshot(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = world.seats
    (buyer,) = await users(world.pool, 1)
    sold = a_hold(world.event_id, buyer, s[10:15], expires_at=datetime.now(UTC) - timedelta(seconds=5))
    await world.repo.insert_many([NewHold(sold, "key-1")])
    await sell(world.pool, sold, live=True)
    assert (await world.hold([s[0]])).outcome is Outcome.OK
    old = await world.gate.snapshot(world.event_id)
    assert (await world.hold([s[1]])).outcome is Outcome.OK
    # Five sold seats in chunks of two: two staging passes before the real one.
    monkeypatch.setattr(seat_loader, "LOAD_CHUNK", 2)

    await world.wipe()
    rebuilt = await world.gate.snapshot(world.event_id)

    assert rebuilt.states == dict.fromkeys(s[10:15], "SOLD")
    assert await log(world) == [(f"{rebuilt.version}-0", {"*reset": ""})]
    assert await world.gate.changes_since(world.event_id, old.version) is None
    assert await world.gate.changes_since(world.event_id, rebuilt.version - 1) is None
    same = await world.gate.changes_since(world.event_id, rebuilt.version)
    assert same is not None
    assert (same.since, same.version, same.entries) == (rebuilt.version, rebuilt.version, ())
    held = await world.hold([s[2]])
    after = await world.gate.changes_since(world.event_id, rebuilt.version)
    assert after is not None
    assert after.entries == ((rebuilt.version + 1, {s[2]: f"{held.hold_id}|{held.expires_at_ms}"}),)


@pytest.mark.parametrize("script", ["hold", "release", "expire", "sell", "retime", "reconcile"])
def test_every_script_trims_the_log_to_the_length_the_gate_states(script: str) -> None:
    source = load_script(f"{script}.lua")
    assert source.count("'XADD', key, 'MAXLEN', '~', ") == 1
    assert f"'MAXLEN', '~', {seat_gate.CHANGE_LOG_MAXLEN}," in source


async def test_a_gap_a_lost_log_too_many_versions_or_an_unloaded_event_give_none(world: World) -> None:
    s, event = world.seats, world.event_id
    start = await world.gate.snapshot(event)
    for seat in s[:3]:
        assert (await world.hold([seat])).outcome is Outcome.OK
    current = start.version + 3
    key = world.keys.seat_changes(event)

    assert await world.gate.changes_since(event, start.version, limit=2) is None
    assert await world.gate.changes_since(event, current + 1) is None
    await world.redis.xtrim(key, maxlen=1, approximate=False)
    assert await world.gate.changes_since(event, start.version) is None
    last = await world.gate.changes_since(event, current - 1)
    assert last is not None
    assert [v for v, _ in last.entries] == [current]
    await world.redis.delete(key)
    assert await world.gate.changes_since(event, current - 1) is None
    unchanged = await world.gate.changes_since(event, current)
    assert unchanged is not None
    assert (unchanged.version, unchanged.entries) == (current, ())
    await world.redis.delete(world.keys.loaded(event))
    assert await world.gate.changes_since(event, current) is None


async def test_a_lost_version_key_restarts_the_log_with_a_reset(world: World) -> None:
    s, event = world.seats, world.event_id
    assert (await world.hold([s[0]])).outcome is Outcome.OK
    before = await world.gate.snapshot(event)
    await world.redis.delete(world.keys.version(event))

    again = await world.hold([s[1]])

    assert again.outcome is Outcome.OK
    assert (await world.gate.snapshot(event)).states == {
        **before.states,
        s[1]: f"{again.hold_id}|{again.expires_at_ms}",
    }
    assert await log(world) == [("1-0", {"*reset": ""})]
    assert await world.gate.changes_since(event, before.version) is None
    assert await world.gate.changes_since(event, 0) is None


# --- the seat-map renderer reads through the log -----------------------------------------------


class CountingGate(seat_gate.RedisSeatGate):
    snapshots = 0

    async def snapshot(self, event_id: str) -> SeatSnapshot:
        self.snapshots += 1
        return await super().snapshot(event_id)


async def test_the_seat_map_after_a_hold_and_a_cancel_is_rendered_from_the_log(world: World) -> None:
    s, event = world.seats, world.event_id
    gate = CountingGate(world.redis, world.keys, world.repo, max_seats_per_user=8)
    catalog = CatalogCache(world.redis, world.keys, world.repo)
    renderer = SeatMapRenderer(gate, catalog)

    def statuses(body: bytes) -> dict[str, str]:
        return {seat["id"]: seat["status"] for sec in orjson.loads(body)["sections"] for seat in sec["seats"]}

    first = await renderer.seat_map(event)
    held = await gate.hold(event, new_id("hold"), "usr_a", (s[3], s[4]), 60_000, "fp", "k-1")
    after_hold = await renderer.seat_map(event)
    assert await gate.release(event, held.hold_id, "usr_a", (s[3], s[4])) == 2
    after_cancel = await renderer.seat_map(event)

    assert gate.snapshots == 1
    assert set(statuses(first.body).values()) == {"AVAILABLE"}
    assert {seat for seat, status in statuses(after_hold.body).items() if status == "HELD"} == {s[3], s[4]}
    assert after_hold.etag.startswith(f'"{after_hold.version}.2.')
    assert set(statuses(after_cancel.body).values()) == {"AVAILABLE"}
    assert after_cancel.etag.startswith(f'"{after_cancel.version}.0.')
    assert first.version < after_hold.version < after_cancel.version
    fresh = await SeatMapRenderer(gate, catalog).seat_map(event)
    assert (fresh.body, fresh.etag) == (after_cancel.body, after_cancel.etag)
    # After Redis lost the event, the log cannot vouch for anything: a snapshot again.
    await world.wipe()
    rebuilt = await renderer.seat_map(event)
    assert gate.snapshots == 3
    assert rebuilt.version > after_cancel.version
    assert set(statuses(rebuilt.body).values()) == {"AVAILABLE"}
