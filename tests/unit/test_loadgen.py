"""The load generator (bench.http1, bench.loadgen, bench.report): its response parser,
percentile maths and load loop, against a tiny real HTTP server started in the test."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from bench.http1 import ProtocolError, build_get, fetch, parse_head, read_response
from bench.loadgen import LoadResult, percentile, run_load
from bench.report import Summary, format_table

_ROUTES: dict[bytes, bytes] = {
    b"/length": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
    b"/chunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;ext=1\r\nwiki\r\n0a\r\npedia in  \r\n0\r\nX-Trailer: t\r\n\r\n"
    ),
    b"/not-modified": b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n',
    b"/continue": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
    b"/error": b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops",
    b"/missing": b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
}
# Answered without a length: the body ends when the server closes the connection.
_UNTIL_CLOSE = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"


@dataclass
class TinyServer:
    port: int = 0
    served: Counter[bytes] = field(default_factory=Counter)
    connections: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1]
                self.served[path] += 1
                if path == b"/close":
                    writer.write(_UNTIL_CLOSE)
                    await writer.drain()
                    break
                writer.write(_ROUTES[path])
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            await writer.wait_closed()


@pytest.fixture
async def tiny() -> AsyncIterator[TinyServer]:
    state = TinyServer()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    yield state
    server.close()
    await server.wait_closed()


def _get(tiny: TinyServer, path: str) -> bytes:
    return build_get("127.0.0.1", tiny.port, path)


# --- parsing -----------------------------------------------------------------------


def test_parse_head_reads_status_framing_and_keep_alive() -> None:
    head = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nSet-Cookie: a\r\nset-cookie: b")
    assert (head.status, head.content_length, head.chunked, head.keep_alive) == (200, 12, False, True)
    assert head.headers[b"set-cookie"] == b"a, b"

    chunked = parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3")
    assert chunked.chunked
    assert chunked.content_length is None  # chunked framing wins over a length

    assert not parse_head(b"HTTP/1.1 200 OK\r\nConnection: close").keep_alive
    assert not parse_head(b"HTTP/1.0 200 OK").keep_alive
    assert parse_head(b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive").keep_alive
    assert parse_head(b"HTTP/1.1 204").status == 204  # the reason phrase is optional


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/2 200 OK",
        b"ICY 200 OK",
        b"HTTP/1.1 2x0 OK",
        b"HTTP/1.1 2000 OK",
        b"HTTP/1.1 200 OK\r\nno colon here",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1",
    ],
)
def test_parse_head_rejects_malformed_responses(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_head(raw)


@pytest.mark.parametrize(
    ("path", "status", "body", "keep_alive"),
    [
        ("/length", 200, b"hello", True),
        ("/chunked", 200, b"wikipedia in  ", True),
        ("/not-modified", 304, b"", True),
        ("/continue", 201, b"ok", True),
        ("/close", 200, b"until the end", False),
    ],
)
async def test_fetch_reads_each_kind_of_body(
    tiny: TinyServer, path: str, status: int, body: bytes, keep_alive: bool
) -> None:
    response = await fetch("127.0.0.1", tiny.port, _get(tiny, path))
    assert (response.status, response.body, response.keep_alive) == (status, body, keep_alive)


async def test_responses_on_one_keep_alive_connection_stay_in_step(tiny: TinyServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", tiny.port)
    try:
        paths = ["/chunked", "/length", "/not-modified", "/continue", "/chunked"]
        writer.write(b"".join(_get(tiny, p) for p in paths))  # pipelined
        statuses = [(await read_response(reader)).status for _ in paths]
    finally:
        writer.close()
        await writer.wait_closed()
    assert statuses == [200, 200, 304, 201, 200]
    assert tiny.connections == 1


# --- percentile maths --------------------------------------------------------------


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert [percentile(values, p) for p in (0, 1, 50, 90, 99, 99.5, 100)] == [1, 1, 50, 90, 99, 100, 100]
    assert percentile([7], 99) == 7
    assert [percentile([10, 20, 30, 40], p) for p in (25, 26, 50, 75, 76)] == [10, 20, 20, 30, 40]
    # p * n / 100 is not exact in binary floating point; the rank must still be exact.
    assert percentile(list(range(1, 101)), 7) == 7
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile(values, 101)


def test_results_merge_and_summarise() -> None:
    a = LoadResult(2.0, 2, {200: 3, 500: 1}, {"ConnectionResetError": 1}, [1_000_000, 2_000_000, 9_000_000])
    b = LoadResult(2.0, 2, {304: 1}, {}, [4_000_000])
    merged = LoadResult.merge([a, b])
    assert merged.latencies_ns == [1_000_000, 2_000_000, 4_000_000, 9_000_000]
    assert (merged.ok, merged.bad_statuses, merged.error_count, merged.concurrency) == (4, 1, 2, 4)
    assert (merged.rps, merged.p50_ms, merged.max_ms) == (2.0, 2.0, 9.0)
    assert merged.error_summary() == "500 x1, ConnectionResetError x1"

    summary = Summary.of("scenario", [a, b], baselines=[b, b])
    assert summary.errors == 2  # a total, not a median
    assert summary.ratio == pytest.approx(2.0)  # median of 3/1 and 1/1
    assert "scenario" in format_table([summary])


# --- the load loop -----------------------------------------------------------------


async def test_run_load_counts_every_response_of_the_window(tiny: TinyServer) -> None:
    paths = ("/length", "/chunked", "/not-modified", "/error", "/close")
    requests = [_get(tiny, p) for p in paths]
    result = await run_load("127.0.0.1", tiny.port, requests, concurrency=5, duration_s=0.5, warmup_s=0.1)

    by_path = {p: tiny.served[p.encode()] for p in paths}
    assert result.ok > 50
    assert result.errors == {}
    assert result.ok == sum(n for s, n in result.statuses.items() if s in (200, 304))
    assert result.bad_statuses == result.statuses[500] > 0  # 500s are errors, never successes
    assert result.error_count == result.statuses[500]
    assert len(result.latencies_ns) == result.ok
    assert result.latencies_ns == sorted(result.latencies_ns)
    assert 0 < result.p50_ms <= result.p90_ms <= result.p99_ms <= result.max_ms
    assert result.rps == pytest.approx(result.ok / 0.5)
    # The server also answered warm-up and end-of-window requests, which are not counted.
    assert sum(result.statuses.values()) <= sum(by_path.values())
    # Every client cycles through the list, so the paths are sent about equally often.
    assert max(by_path.values()) - min(by_path.values()) <= 5
    # Each /close answer ended its connection and its client reconnected (unless the window was over).
    assert tiny.connections >= by_path["/close"] > 0


async def test_paced_clients_offer_the_rate_whatever_the_server_speed(tiny: TinyServer) -> None:
    """200 requests/s over 4 clients for 1 s: about 200 answers, not the thousands a closed
    loop against this server gets."""
    result = await run_load(
        "127.0.0.1", tiny.port, [_get(tiny, "/length")], concurrency=4, duration_s=1.0, warmup_s=0.2, rate=200
    )

    # At most the schedule (+1 per client finishing a warm-up request); a starved machine may
    # fall behind it, never ahead.
    assert 50 <= result.ok <= 205, result.ok
    assert result.errors == {}


async def test_run_load_refuses_to_start_without_a_server() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    with pytest.raises(ConnectionError, match="connections"):
        await run_load("127.0.0.1", port, [b"GET / HTTP/1.1\r\n\r\n"], 2, duration_s=0.1, warmup_s=0)
