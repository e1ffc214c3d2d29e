"""The browse micro-cache: per-URL entries that expire, bounded in size."""

from __future__ import annotations

import time

from ticketmaster.entrypoints.http.microcache import MicroCache, _route_of


def test_only_event_listings_and_details_are_cacheable() -> None:
    assert _route_of("/events") == "/events"
    assert _route_of("/events/evt_1") == "/events/{event_id}"
    assert _route_of("/events/evt_1/seats") is None
    assert _route_of("/events/") is None
    assert _route_of("/holds/h1") is None


def test_entries_expire_after_the_ttl() -> None:
    cache = MicroCache(ttl=0.05)
    cache.put("k", b"body", '"e"')
    hit = cache.get("k")
    assert hit is not None
    assert (hit.body, hit.etag) == (b"body", '"e"')
    deadline = time.monotonic() + 2
    while cache.get("k") is not None:
        assert time.monotonic() < deadline, "entry never expired"
    assert cache.get("k") is None


def test_a_zero_ttl_caches_nothing() -> None:
    cache = MicroCache(ttl=0)
    cache.put("k", b"body", '"e"')
    time.sleep(0.001)
    assert cache.get("k") is None


def test_the_oldest_entries_are_evicted_beyond_the_bound() -> None:
    cache = MicroCache(ttl=60, max_entries=2)
    for key in ("a", "b", "c"):
        cache.put(key, key.encode(), key)
    assert cache.get("a") is None
    assert cache.get("b") is not None
    assert cache.get("c") is not None
