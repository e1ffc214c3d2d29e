"""A tiny in-process cache of rendered browse responses.

Browse data changes only on imports, yet every listing costs a PostgreSQL round trip and
a render. Serving the same rendered body (and ETag) for ``ttl`` seconds per URL turns a
burst of identical requests into one query; clients already may cache for longer
(Cache-Control max-age), so a second of sharing changes nothing they could observe.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.requests import Request


@dataclass(frozen=True, slots=True)
class Cached:
    body: bytes
    etag: str
    expires: float


class MicroCache:
    def __init__(self, ttl: float = 1.0, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._entries: OrderedDict[str, Cached] = OrderedDict()

    @staticmethod
    def key(request: Request) -> str:
        return (
            request.url.path
            + "?"
            + "&".join(sorted(f"{k}={v}" for k, v in request.query_params.multi_items()))
        )

    def get(self, key: str) -> Cached | None:
        hit = self._entries.get(key)
        if hit is None or hit.expires < time.monotonic():
            return None
        return hit

    def put(self, key: str, body: bytes, etag: str) -> None:
        self._entries[key] = Cached(body, etag, time.monotonic() + self._ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
