"""The browse micro-cache: per-URL entries that expire, bounded in size."""

from __future__ import annotations

import time

from ticketmaster.entrypoints.http.microcache import ENTRY_OVERHEAD_BYTES, MicroCache, _route_of


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


def test_the_least_recently_used_entries_are_evicted_beyond_the_byte_bound() -> None:
    cache = MicroCache(ttl=60, max_bytes=3 * (ENTRY_OVERHEAD_BYTES + 3))  # 3 entries of 1-byte fields
    for key in ("a", "b", "c"):
        cache.put(key, key.encode(), key)
    assert cache.get("a") is not None  # used: "b" is now the least recently used
    cache.put("d", b"d", "d")
    assert cache.get("b") is None
    assert all(cache.get(key) is not None for key in ("a", "c", "d"))


def test_distinct_urls_with_big_bodies_stay_within_the_byte_budget() -> None:
    """Any query string makes a new key (``?x=1``, ``?x=2`` …): bodies, not entries, bound it."""
    cache = MicroCache(ttl=60, max_bytes=1_000_000)
    body = b"x" * 20_000
    for n in range(1000):
        cache.put(f"/events?x={n}", body, '"e"')
        assert cache.bytes_held() <= 1_000_000
    assert cache.get("/events?x=999") is not None
    assert cache.get("/events?x=0") is None


def test_a_body_bigger_than_the_whole_budget_is_not_cached() -> None:
    cache = MicroCache(ttl=60, max_bytes=10_000)
    cache.put("/events", b"x" * 20_000, '"e"')
    assert cache.get("/events") is None
    assert cache.bytes_held() == 0
