"""Helpers for tests of several API processes: which processes a ``serve --workers N``
parent runs, which one answered a request, and what its ``/metrics`` says."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

# Each request on a connection of its own, so the kernel may hand it to any process.
FRESH_CONNECTIONS = httpx.Limits(max_connections=32, max_keepalive_connections=0)


def api_processes(parent: int) -> set[int]:
    """The API processes a supervisor runs: its children spawned by multiprocessing (not
    multiprocessing's resource tracker)."""
    found: set[int] = set()
    for tasks in Path(f"/proc/{parent}/task").glob("*/children"):
        for pid in tasks.read_text().split():
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"spawn_main" in command:
                found.add(int(pid))
    return found


def running(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped, is not running)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def environment(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.decode().partition("=")[::2] for item in raw.split(b"\0") if item)


async def served_by(http: httpx.AsyncClient) -> int:
    """The pid of the API process that answered one ``GET /healthz``."""
    response = await http.get("/healthz")
    assert response.status_code == 200, response.text
    return int(response.headers["X-Process-Id"])


async def metric(http: httpx.AsyncClient, name: str, labels: dict[str, str] | None = None) -> float:
    """The value of one sample in ``/metrics`` (0 when the sample is absent)."""
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in (labels or {}).items()):
                return float(sample.value)
    return 0.0
