"""Load shedding (I8): a per-process cap on requests in flight, as a pure ASGI middleware.

Past ``max_in_flight`` concurrent requests, a new one is answered at once with 503
``overloaded`` and ``Retry-After`` — before routing, body parsing or any I/O — instead of
queueing behind the others and timing out. The requests already admitted keep the
latency of a server at its capacity, and the counter drains by itself when the flood
stops. Operations endpoints (``/healthz``, ``/readyz``, ``/metrics``) are never shed (an
overloaded process must still be observable) and long-lived streams (``.../stream``) are
not counted: they idle most of their life.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from ticketmaster.observability import IN_FLIGHT, SHED_REQUESTS

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
RETRY_AFTER_SECONDS = 1
_BODY = orjson.dumps(
    {"error": "overloaded", "message": "the server is at capacity; retry after the Retry-After delay"}
)
_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_BODY)).encode()),
    (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
]


class LoadShedder:
    """Counts HTTP requests from arrival until their handler returns."""

    def __init__(self, app: ASGIApp, max_in_flight: int) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.app = app
        self.max_in_flight = max_in_flight
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path or path in EXEMPT_PATHS or path.endswith("/stream"):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            SHED_REQUESTS.labels("overloaded").inc()
            await send({"type": "http.response.start", "status": 503, "headers": _HEADERS})
            await send({"type": "http.response.body", "body": _BODY})
            return
        self.in_flight += 1
        IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            IN_FLIGHT.dec()
