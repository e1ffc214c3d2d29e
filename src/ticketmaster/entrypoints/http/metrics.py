"""Prometheus metrics of the HTTP layer and an ASGI middleware that records them."""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by route template and method",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
RESPONSES = Counter(
    "http_responses_total", "HTTP responses by route template and status", ["route", "status"]
)


class MetricsMiddleware:
    """Pure ASGI (no per-request task): latency and status per route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUEST_LATENCY.labels(route, scope["method"]).observe(time.perf_counter() - started)
            RESPONSES.labels(route, str(status)).inc()
