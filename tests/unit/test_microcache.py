"""The browse micro-cache: per-URL entries that expire, bounded in size."""

from __future__ import annotations

import time

from starlette.requests import Request

from ticketmaster.entrypoints.http.microcache import MicroCache


def _request(path: str, query: str) -> Request:
    return Request(
        {"type": "http", "method": "GET", "path": path, "query_string": query.encode(), "headers": []}
    )


def test_the_key_ignores_parameter_order() -> None:
    assert MicroCache.key(_request("/events", "city=NYC&limit=5")) == MicroCache.key(
        _request("/events", "limit=5&city=NYC")
    )
    assert MicroCache.key(_request("/events", "city=NYC")) != MicroCache.key(_request("/events", "city=LA"))


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
