"""RedisKeys: every key of one event hashes to that event's Cluster slot, and keys that are
not per event (users, cross-event lists, the catalog generation) never share it, so a
script or MULTI over one event's keys runs on one node of a Redis Cluster (SPEC §3)."""

from __future__ import annotations

import inspect

import pytest
from redis.crc import key_slot

from ticketmaster.adapters.redis.keys import SWEEP_SHARDS, RedisKeys

KEYS = RedisKeys("tm")
# Events whose ids are known to fall in different slots (checked below).
EVENTS = ("evt_0001", "evt_0002", "evt_0003")


def _event_keys(event_id: str) -> dict[str, list[str]]:
    """Builder name -> the keys it builds for ``event_id`` (every builder taking one)."""
    built: dict[str, list[str]] = {}
    for name, method in inspect.getmembers(KEYS, inspect.ismethod):
        params = list(inspect.signature(method).parameters)
        if not params or params[0] != "event_id":
            continue
        extra = {"generation": "g1", "hold_id": "hold_1", "user_id": "usr_1", "key": "k", "slots": 3}
        value = method(event_id, **{p: extra[p] for p in params[1:]})
        built[name] = value if isinstance(value, list) else [value]
    return built


def _slot(key: str) -> int:
    return int(key_slot(key.encode()))


def test_the_example_events_lie_in_different_slots() -> None:
    assert len({_slot(KEYS.event_tag(e)) for e in EVENTS}) == len(EVENTS)


@pytest.mark.parametrize("event_id", EVENTS)
def test_every_key_of_an_event_is_in_the_event_slot(event_id: str) -> None:
    built = _event_keys(event_id)
    assert {"seats", "loaded", "hold", "idempotency", "queue_seen", "seat_changes"} <= built.keys()
    slot = _slot(KEYS.event_tag(event_id))
    assert {name: {_slot(k) for k in keys} for name, keys in built.items()} == {
        name: {slot} for name in built
    }


def test_keys_that_are_not_per_event_have_slots_of_their_own() -> None:
    event_slots = {_slot(KEYS.event_tag(e)) for e in EVENTS}
    shared = [
        KEYS.rate_limit("usr_1"),
        KEYS.client_rate_limit("guest", "203.0.113.5"),
        *KEYS.sweep_lists(cluster=False),
        *KEYS.sweep_lists(cluster=True),
        KEYS.active_queues(),
        KEYS.catalog_generation(),
        KEYS.venue_layout("ven_1", 1),
    ]
    assert not {_slot(k) for k in shared} & event_slots
    # A user's keys follow the user, not any event they touch.
    assert _slot(KEYS.rate_limit("usr_1")) == _slot(KEYS.user_tag("usr_1") + ":x")


def test_on_a_cluster_each_event_is_on_the_sweep_list_of_its_slot_range() -> None:
    """The Redis sweeper's lists split the slots into SWEEP_SHARDS equal ranges, each list
    tagged into its own range, so a list lives where (most of) its events do."""
    lists = KEYS.sweep_lists(cluster=True)
    width = 16384 // SWEEP_SHARDS
    assert [_slot(key) // width for key in lists] == list(range(SWEEP_SHARDS))
    for event_id in (*EVENTS, *(f"evt_{n}" for n in range(200))):
        listed = KEYS.sweep_list(event_id, cluster=True)
        assert listed in lists
        assert _slot(listed) // width == _slot(KEYS.event_tag(event_id)) // width
    assert KEYS.sweep_list("evt_0001", cluster=False) == KEYS.sweep_lists(cluster=False)[0]


def test_a_hold_key_names_its_event_and_hold() -> None:
    key = KEYS.hold("evt_0001", "hold_1")
    assert KEYS.parse_hold_key(key) == ("evt_0001", "hold_1")
    assert KEYS.parse_hold_key(KEYS.seats("evt_0001")) is None
