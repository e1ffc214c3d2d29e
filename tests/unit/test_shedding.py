"""The load shedder (a pure ASGI middleware) and the waiting-room and shedding settings."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from pathlib import Path
from typing import Any

import pytest

from ticketmaster.config import LOOPBACK, ConfigError, Settings
from ticketmaster.entrypoints.http.clients import ClientAddresses
from ticketmaster.entrypoints.http.shedding import LoadShedder, StreamCap

NO_EXEMPT = ClientAddresses((), ())


async def test_the_shedder_answers_503_at_once_past_its_limit_and_exempts_operations() -> None:
    release = asyncio.Event()

    async def slow_app(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    shedder = LoadShedder(slow_app, max_in_flight=2, streams=StreamCap(10, 0, NO_EXEMPT))

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
    stream = asyncio.create_task(call("/events/e/seats/stream"))  # counted as a stream
    assert (await call("/events/e/stream"))[0] == 503  # not the stream route: counted as a request
    release.set()
    assert [s for s, _ in await asyncio.gather(*busy, health, stream)] == [200, 200, 200, 200]
    assert shedder.in_flight == 0
    assert (await call("/events"))[0] == 200  # recovered


def _stream_scope(peer: str, forwarded: str | None = None) -> dict[str, Any]:
    headers = [] if forwarded is None else [(b"x-forwarded-for", forwarded.encode())]
    path = "/events/e/seats/stream"
    return {"type": "http", "path": path, "method": "GET", "client": (peer, 5000), "headers": headers}


async def test_seat_streams_have_a_cap_per_process_and_per_client_address() -> None:
    closed = {peer: asyncio.Event() for peer in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "127.0.0.1")}

    async def stream_app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await closed[scope["client"][0]].wait()  # the stream lasts until its client leaves

    shedder = LoadShedder(stream_app, max_in_flight=1, streams=StreamCap(4, 2, ClientAddresses((), LOOPBACK)))

    async def call(peer: str) -> tuple[int, dict[bytes, bytes], bytes]:
        sent: list[dict[str, Any]] = []
        answered = asyncio.Event()

        async def send(message: Any) -> None:
            sent.append(message)
            answered.set()

        task = asyncio.create_task(shedder(_stream_scope(peer), None, send))  # type: ignore[arg-type]
        await answered.wait()
        if sent[0]["status"] != 200:
            await task  # a refusal is whole at once
        body = sent[1]["body"] if len(sent) > 1 else b""
        return sent[0]["status"], dict(sent[0]["headers"]), body

    assert [(await call("10.0.0.1"))[0] for _ in range(2)] == [200, 200]
    status, headers, body = await call("10.0.0.1")  # a third from one address
    assert (status, headers[b"retry-after"]) == (503, b"5")
    assert b'"overloaded"' in body
    assert (await call("10.0.0.2"))[0] == 200  # another address has its own places
    assert shedder.streams.by_client == {"10.0.0.1": 2, "10.0.0.2": 1}
    assert (await call("127.0.0.1"))[0] == 200  # exempt from the per-client cap ...
    assert (await call("10.0.0.3"))[0] == 503  # ... not from the process's
    assert shedder.in_flight == 0  # streams never count as requests in flight
    closed["10.0.0.1"].set()
    await asyncio.sleep(0)
    assert shedder.streams.by_client == {"10.0.0.2": 1}
    assert [(await call("10.0.0.3"))[0] for _ in range(2)] == [200, 200]  # places freed


def test_the_client_is_the_peer_unless_a_trusted_proxy_forwards_it() -> None:
    proxies = ClientAddresses(
        (ipaddress.ip_network("10.1.0.0/16"), ipaddress.ip_network("192.0.2.7")), LOOPBACK
    )

    def key(peer: str, forwarded: str | None = None) -> str | None:
        return proxies.limit_key(_stream_scope(peer, forwarded))

    assert key("198.51.100.9") == "198.51.100.9"
    assert key("198.51.100.9", "203.0.113.5") == "198.51.100.9"  # not a proxy: header ignored
    assert key("10.1.2.3", "203.0.113.5") == "203.0.113.5"
    # The right-most entry that is not a trusted proxy; what the client wrote left of it is ignored.
    assert key("10.1.2.3", "1.1.1.1, 203.0.113.5, 192.0.2.7") == "203.0.113.5"
    assert key("10.1.2.3", "203.0.113.5, not-an-address") == "10.1.2.3"
    assert key("10.1.2.3") == "10.1.2.3"
    assert key("10.1.2.3", "127.0.0.1") is None  # a forwarded loopback client is exempt
    assert key("127.0.0.1", "203.0.113.5") is None  # loopback is not a trusted proxy here
    assert key("::ffff:198.51.100.9") == "198.51.100.9"
    assert key("2001:db8:1:2:3:4:5:6") == key("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert ClientAddresses((), ()).limit_key({"type": "http", "client": None, "headers": []}) is None


def test_waiting_room_and_shedding_settings(tmp_path: Path) -> None:
    base = {"TICKETMASTER_DATA_DIR": str(tmp_path), "TICKETMASTER_SECRET_KEY": "s" * 40}
    defaults = Settings.from_env(base)
    assert defaults.queue_heartbeat_timeout_seconds == 30
    assert defaults.queue_tick_seconds == 0.25
    assert defaults.max_in_flight == 256
    assert (defaults.rate_limit_per_second, defaults.rate_limit_burst) == (10, 20)
    assert (defaults.streams_per_process, defaults.streams_per_client) == (4096, 32)
    assert defaults.trusted_proxies == ()
    assert (defaults.client_rate_limit_per_second, defaults.client_rate_limit_burst) == (1, 20)
    assert defaults.client_limit_exempt == LOOPBACK

    custom = Settings.from_env(
        base
        | {
            "TICKETMASTER_QUEUE_HEARTBEAT_TIMEOUT_SECONDS": "1.5",
            "TICKETMASTER_QUEUE_TICK_SECONDS": "0.1",
            "TICKETMASTER_MAX_IN_FLIGHT": "8",
            "TICKETMASTER_RATE_LIMIT_PER_SECOND": "2.5",
            "TICKETMASTER_RATE_LIMIT_BURST": "5",
            "TICKETMASTER_STREAMS_PER_PROCESS": "100",
            "TICKETMASTER_STREAMS_PER_CLIENT": "0",
            "TICKETMASTER_CLIENT_RATE_LIMIT_PER_SECOND": "0",
            "TICKETMASTER_CLIENT_RATE_LIMIT_BURST": "0",
            "TICKETMASTER_TRUSTED_PROXIES": "10.0.0.0/8, 2001:db8::1",
            "TICKETMASTER_CLIENT_LIMIT_EXEMPT": "none",
        }
    )
    assert custom.queue_heartbeat_timeout_seconds == 1.5
    assert custom.queue_tick_seconds == 0.1
    assert custom.max_in_flight == 8
    assert (custom.rate_limit_per_second, custom.rate_limit_burst) == (2.5, 5)
    assert (custom.streams_per_process, custom.streams_per_client) == (100, 0)
    assert [str(n) for n in custom.trusted_proxies] == ["10.0.0.0/8", "2001:db8::1/128"]
    assert custom.client_limit_exempt == ()
    assert (custom.client_rate_limit_per_second, custom.client_rate_limit_burst) == (0, 0)

    for name, bad in [
        ("QUEUE_HEARTBEAT_TIMEOUT_SECONDS", "0"),
        ("QUEUE_TICK_SECONDS", "10"),
        ("MAX_IN_FLIGHT", "0"),
        ("RATE_LIMIT_PER_SECOND", "-1"),
        ("RATE_LIMIT_BURST", "zero"),
        ("STREAMS_PER_PROCESS", "0"),
        ("STREAMS_PER_CLIENT", "-1"),
        ("CLIENT_RATE_LIMIT_PER_SECOND", "-0.5"),
        ("CLIENT_RATE_LIMIT_BURST", "many"),
        ("TRUSTED_PROXIES", "10.0.0.0/8,proxy.local"),
        ("CLIENT_LIMIT_EXEMPT", "127.0.0.1/33"),
    ]:
        with pytest.raises(ConfigError, match=f"TICKETMASTER_{name}"):
            Settings.from_env(base | {f"TICKETMASTER_{name}": bad})
