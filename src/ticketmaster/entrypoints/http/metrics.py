"""Prometheus metrics of the HTTP layer, an ASGI middleware that records them, and the
exposition of every metric of the process (or of all API processes under ``--workers``)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ticketmaster.processes import pid_alive

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


# prometheus-client's own switch: set (by ``serve --workers N``) before the API processes
# start, it makes every metric a file in that directory, read together at scrape time.
MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db")


def _forget_dead_processes(directory: str) -> None:
    """Drop the live gauges (in flight, open streams) of API processes that died: the
    supervisor replaces a crashed process but has no hook to tell prometheus-client."""
    dead = set()
    for path in Path(directory).glob("gauge_live*.db"):
        match = _LIVE_GAUGE_FILE.fullmatch(path.name)
        if match is not None and not pid_alive(int(match.group(1))):
            dead.add(int(match.group(1)))
    for pid in dead:
        multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def exposition() -> bytes:
    """The Prometheus text of this process, or of every API process sharing the
    multiprocess directory (counters and histograms summed, including those of processes
    that have exited, so totals never go backwards)."""
    directory = os.environ.get(MULTIPROC_DIR_ENV)
    if not directory:
        return generate_latest()
    _forget_dead_processes(directory)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry)
