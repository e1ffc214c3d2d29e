"""The load shedder (a pure ASGI middleware) and the waiting-room and shedding settings."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from ticketmaster.config import ConfigError, Settings
from ticketmaster.entrypoints.http.shedding import LoadShedder


async def test_the_shedder_answers_503_at_once_past_its_limit_and_exempts_operations() -> None:
    release = asyncio.Event()

    async def slow_app(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    shedder = LoadShedder(slow_app, max_in_flight=2)

    async def call(path: str) -> tuple[int, dict[bytes, bytes]]:
        sent: list[dict[str, Any]] = []

        async def send(message: Any) -> None:
            sent.append(message)

        await shedder({"type": "http", "path": path, "method": "GET"}, None, send)  # type: ignore[arg-type]
        return sent[0]["status"], dict(sent[0]["headers"])

    busy = [asyncio.create_task(call("/events")) for _ in range(2)]
    await asyncio.sleep(0)
    started = time.perf_counter()
    status, headers = await call("/events")
    assert status == 503
    assert headers[b"retry-after"] == b"1"
    assert time.perf_counter() - started < 0.05
    health = asyncio.create_task(call("/healthz"))  # exempt: waits for the app, not refused
    stream = asyncio.create_task(call("/events/e/seats/stream"))
    release.set()
    assert [s for s, _ in await asyncio.gather(*busy, health, stream)] == [200, 200, 200, 200]
    assert shedder.in_flight == 0
    assert (await call("/events"))[0] == 200  # recovered


def test_waiting_room_and_shedding_settings(tmp_path: Path) -> None:
    base = {"TICKETMASTER_DATA_DIR": str(tmp_path), "TICKETMASTER_SECRET_KEY": "s" * 40}
    defaults = Settings.from_env(base)
    assert defaults.queue_heartbeat_timeout_seconds == 30
    assert defaults.queue_tick_seconds == 0.25
    assert defaults.max_in_flight == 256
    assert (defaults.rate_limit_per_second, defaults.rate_limit_burst) == (10, 20)

    custom = Settings.from_env(
        base
        | {
            "TICKETMASTER_QUEUE_HEARTBEAT_TIMEOUT_SECONDS": "1.5",
            "TICKETMASTER_QUEUE_TICK_SECONDS": "0.1",
            "TICKETMASTER_MAX_IN_FLIGHT": "8",
            "TICKETMASTER_RATE_LIMIT_PER_SECOND": "2.5",
            "TICKETMASTER_RATE_LIMIT_BURST": "5",
        }
    )
    assert custom.queue_heartbeat_timeout_seconds == 1.5
    assert custom.queue_tick_seconds == 0.1
    assert custom.max_in_flight == 8
    assert (custom.rate_limit_per_second, custom.rate_limit_burst) == (2.5, 5)

    for name, bad in [
        ("QUEUE_HEARTBEAT_TIMEOUT_SECONDS", "0"),
        ("QUEUE_TICK_SECONDS", "10"),
        ("MAX_IN_FLIGHT", "0"),
        ("RATE_LIMIT_PER_SECOND", "-1"),
        ("RATE_LIMIT_BURST", "zero"),
    ]:
        with pytest.raises(ConfigError, match=f"TICKETMASTER_{name}"):
            Settings.from_env(base | {f"TICKETMASTER_{name}": bad})
