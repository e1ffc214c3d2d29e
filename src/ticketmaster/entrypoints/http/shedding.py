"""Load shedding (I8): per-process caps on requests in flight and on open seat streams, as a
pure ASGI middleware.

Past ``max_in_flight`` concurrent requests, a new one is answered at once with 503
``overloaded`` and ``Retry-After`` — before routing, body parsing or any I/O — instead of
queueing behind the others and timing out. The requests already admitted keep the
latency of a server at its capacity, and the counter drains by itself when the flood
stops. Operations endpoints (``/healthz``, ``/readyz``, ``/metrics``) are never shed (an
overloaded process must still be observable).

Seat streams (``GET /events/{id}/seats/stream``, that route only) idle most of their long
life, so they do not count as requests in flight but against a cap of their own
(:class:`StreamCap`): ``per_process`` open at once, and ``per_client`` per client address
(``clients.py``; exempt addresses are counted by the process cap only). A stream holds its
places from arrival until its response ends (the client left or the server stops).
"""

from __future__ import annotations

import re

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from ticketmaster.entrypoints.http.clients import ClientAddresses
from ticketmaster.observability import IN_FLIGHT, SHED_REQUESTS

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
SEAT_STREAM_PATH = re.compile(r"/events/[^/]+/seats/stream")
RETRY_AFTER_SECONDS = 1
STREAM_RETRY_AFTER_SECONDS = 5


def _refusal(message: str, retry_after: int) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    body = orjson.dumps({"error": "overloaded", "message": message})
    return body, [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry_after).encode()),
    ]


_BUSY = _refusal("the server is at capacity; retry after the Retry-After delay", RETRY_AFTER_SECONDS)
_STREAMS_FULL = _refusal(
    "this server has as many seat streams open as it allows; retry after the Retry-After delay",
    STREAM_RETRY_AFTER_SECONDS,
)
_CLIENT_STREAMS_FULL = _refusal(
    "this client address has as many seat streams open as it may; close one or retry later",
    STREAM_RETRY_AFTER_SECONDS,
)


class StreamCap:
    """Open seat streams of this process, in all and per client address. ``per_client`` 0
    means no per-client cap. The per-client map holds only clients with a stream open, so
    it never outgrows ``per_process`` entries."""

    def __init__(self, per_process: int, per_client: int, clients: ClientAddresses) -> None:
        if per_process < 1 or per_client < 0:
            raise ValueError("need per_process >= 1 and per_client >= 0")
        self.per_process = per_process
        self.per_client = per_client
        self.clients = clients
        self.open = 0
        self.by_client: dict[str, int] = {}


async def _send(send: Send, refusal: tuple[bytes, list[tuple[bytes, bytes]]]) -> None:
    body, headers = refusal
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class LoadShedder:
    """Counts HTTP requests from arrival until their handler returns; seat streams apart."""

    def __init__(self, app: ASGIApp, max_in_flight: int, streams: StreamCap) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.app = app
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.streams = streams

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path or path in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "GET" and SEAT_STREAM_PATH.fullmatch(path):
            await self._stream(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            SHED_REQUESTS.labels("overloaded").inc()
            await _send(send, _BUSY)
            return
        self.in_flight += 1
        IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            IN_FLIGHT.dec()

    async def _stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        cap = self.streams
        client = cap.clients.limit_key(scope) if cap.per_client else None
        if cap.open >= cap.per_process:
            SHED_REQUESTS.labels("streams").inc()
            await _send(send, _STREAMS_FULL)
            return
        if client is not None and cap.by_client.get(client, 0) >= cap.per_client:
            SHED_REQUESTS.labels("client_streams").inc()
            await _send(send, _CLIENT_STREAMS_FULL)
            return
        cap.open += 1
        if client is not None:
            cap.by_client[client] = cap.by_client.get(client, 0) + 1
        try:
            await self.app(scope, receive, send)
        finally:
            cap.open -= 1
            if client is not None:
                left = cap.by_client[client] - 1
                if left:
                    cap.by_client[client] = left
                else:
                    del cap.by_client[client]
