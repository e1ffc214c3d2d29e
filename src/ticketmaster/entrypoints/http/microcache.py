"""A tiny in-process cache of browse responses, in front of the framework.

Browse data changes only on imports, yet every listing costs a PostgreSQL round trip, a
render and the framework's per-request work. Serving the same 200 (body, ETag,
Cache-Control) for ``ttl`` seconds per URL turns a burst of identical requests into one
query; clients may cache for longer anyway (max-age), so a second of sharing changes
nothing they could observe. As pure ASGI middleware a hit costs less than a route call.
Only ``GET /events`` and ``GET /events/{id}`` are cached; errors never are.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from cachetools import TTLCache
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ticketmaster.entrypoints.http.responses import etag_matches


@dataclass(frozen=True, slots=True)
class Cached:
    body: bytes
    etag: str
    cache_control: str
    size: int  # bytes charged against the budget: the key and body, plus fixed overhead


ENTRY_OVERHEAD_BYTES = 256  # the entry's objects beside key and body (so tiny ones count too)
MAX_BYTES = 32 * 1024 * 1024


class MicroCache:
    """Entries expire ``ttl`` after they were stored; beyond ``max_bytes`` (keys come from
    clients: any query string is a new one) the least recently used go first."""

    def __init__(self, ttl: float = 1.0, max_bytes: int = MAX_BYTES) -> None:
        self.ttl = ttl
        self._max = max_bytes
        self._entries: TTLCache[str, Cached] = TTLCache(max_bytes, max(ttl, 0.0), getsizeof=_size)

    def get(self, key: str) -> Cached | None:
        return self._entries.get(key)

    def put(self, key: str, body: bytes, etag: str, cache_control: str = "") -> None:
        size = len(key) + len(body) + len(etag) + len(cache_control) + ENTRY_OVERHEAD_BYTES
        if size <= self._max:
            self._entries[key] = Cached(body, etag, cache_control, size)

    def bytes_held(self) -> int:
        return int(self._entries.currsize)


def _size(entry: Cached) -> int:
    return entry.size


def _route_of(path: str) -> str | None:
    """The route template of a cacheable browse path, else None."""
    if path == "/events":
        return "/events"
    parts = path.split("/")
    if len(parts) == 3 and parts[1] == "events" and parts[2]:
        return "/events/{event_id}"
    return None


class BrowseCacheMiddleware:
    def __init__(self, app: ASGIApp, cache: MicroCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = _route_of(scope["path"]) if scope["type"] == "http" and scope["method"] == "GET" else None
        if route is None or self.cache.ttl <= 0:
            await self.app(scope, receive, send)
            return
        key = scope["path"] + "?" + scope["query_string"].decode("latin-1")
        hit = self.cache.get(key)
        if hit is not None:
            scope["route"] = SimpleNamespace(path=route)  # for the metrics middleware
            await self._replay(scope, hit, send)
            return
        captured: dict[str, object] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        headers = captured.get("headers")
        if captured.get("status") == 200 and isinstance(headers, dict) and "etag" in headers:
            self.cache.put(key, b"".join(chunks), headers["etag"], headers.get("cache-control", ""))

    @staticmethod
    async def _replay(scope: Scope, hit: Cached, send: Send) -> None:
        headers = [(b"etag", hit.etag.encode()), (b"cache-control", hit.cache_control.encode())]
        inm = next((v.decode() for k, v in scope["headers"] if k == b"if-none-match"), None)
        if etag_matches(inm, hit.etag):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(hit.body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": hit.body})
