"""A closed-loop HTTP/1.1 load generator on raw asyncio streams.

Why not httpx: on a 2-core machine the client competes with the server for CPU. Writing
pre-built request bytes to a keep-alive socket and parsing only the status line,
headers and framing of the answer costs a small fraction of what a full client costs,
so the numbers describe the server, not the client.

Model. ``concurrency`` virtual clients, each with its own keep-alive connection, send a
request, wait for the whole response, record its latency and send the next one (closed
loop: the offered load follows the server's speed, and latency excludes time a request
would have waited in a real arrival queue, so compare ratios within a run rather than
absolute latencies across machines).

Window. All connections are opened before the clock starts (a server that refuses them
fails the run at once). Responses completing during ``warmup_s`` are discarded, then
responses completing within ``duration_s`` are counted. Success is 2xx or 304; any
other status is an error, counted per status and kept out of req/s and the latency
percentiles, which describe successful responses only. Transport failures (reset,
early EOF, malformed response) are errors by kind and the client reconnects. A request
still unanswered ``grace_s`` after the window is cancelled and counted as
``unfinished``. There is no per-request timeout (it would cost a task per request).

Processes. By default the load runs in the calling process, on uvloop when installed.
One process drives tens of thousands of trivial requests per second on one core; on a
2-core machine the server needs the other core, so extra client processes only take
CPU from the server and lower what is measured. Pass ``processes > 1`` when the server
runs elsewhere or has cores to spare, and the client CPU column shows the single client
process near 100 % (then the client, not the server, is the bottleneck).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.synchronize import Barrier
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")
RequestSource = Callable[[int, int], bytes] | list[bytes]
"""Request bytes per (client id, sequence number), or a list every client cycles through."""

READ_LIMIT = 1 << 20
USER_AGENT = "tm-loadgen/1"


class ProtocolError(Exception):
    """The peer's bytes are not a well-formed HTTP/1.x response."""


def is_success(status: int) -> bool:
    return 200 <= status < 300 or status == 304


# --- wire format -------------------------------------------------------------------


def build_get(host: str, port: int, path: str, headers: dict[str, str] | None = None) -> bytes:
    """A keep-alive ``GET`` request, ready to be written as is."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", f"User-Agent: {USER_AGENT}", "Accept: */*"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass(frozen=True, slots=True)
class ResponseHead:
    status: int
    headers: dict[bytes, bytes]
    """Lower-cased names; repeated headers joined with ``, ``."""
    content_length: int | None
    chunked: bool
    keep_alive: bool


class Response(NamedTuple):
    status: int
    headers: dict[bytes, bytes]
    body: bytes
    keep_alive: bool


def parse_head(raw: bytes) -> ResponseHead:
    """Parse a status line and header block (without the final blank line)."""
    status_line, *header_lines = raw.split(b"\r\n")
    if not status_line.startswith(b"HTTP/1.") or len(status_line) < 12 or status_line[8:9] != b" ":
        raise ProtocolError(f"bad status line {status_line[:80]!r}")
    code = status_line[9:12]
    if not code.isdigit() or status_line[12:13] not in (b"", b" "):
        raise ProtocolError(f"bad status code in {status_line[:80]!r}")
    headers: dict[bytes, bytes] = {}
    for line in header_lines:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise ProtocolError(f"bad header line {line[:80]!r}")
        name, value = name.lower(), value.strip()
        headers[name] = headers[name] + b", " + value if name in headers else value
    codings = [t.strip() for t in headers.get(b"transfer-encoding", b"").lower().split(b",")]
    chunked = codings[-1] == b"chunked"
    content_length: int | None = None
    if not chunked and b"content-length" in headers:
        raw_length = headers[b"content-length"]
        if not raw_length.isdigit():
            raise ProtocolError(f"bad Content-Length {raw_length[:40]!r}")
        content_length = int(raw_length)
    tokens = {t.strip() for t in headers.get(b"connection", b"").lower().split(b",")}
    keep_alive = b"close" not in tokens if status_line[7:8] == b"1" else b"keep-alive" in tokens
    return ResponseHead(int(code), headers, content_length, chunked, keep_alive)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_field = (await reader.readuntil(b"\r\n"))[:-2].split(b";", 1)[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError:
            raise ProtocolError(f"bad chunk size {size_field[:40]!r}") from None
        if size == 0:
            break
        parts.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise ProtocolError("chunk not followed by CRLF")
    while await reader.readuntil(b"\r\n") != b"\r\n":
        pass  # trailer fields: read and ignored
    return b"".join(parts)


async def read_response(reader: asyncio.StreamReader, *, head_request: bool = False) -> Response:
    """Read one complete response (interim 1xx responses are skipped)."""
    while True:
        head = parse_head((await reader.readuntil(b"\r\n\r\n"))[:-4])
        if not 100 <= head.status < 200 or head.status == 101:
            break
    keep_alive = head.keep_alive
    if head_request or head.status in (204, 304) or head.status < 200:
        body = b""
    elif head.chunked:
        body = await _read_chunked(reader)
    elif head.content_length is not None:
        body = await reader.readexactly(head.content_length)
    else:
        body, keep_alive = await reader.read(), False  # delimited by the end of the connection
    return Response(head.status, head.headers, body, keep_alive)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


async def fetch(host: str, port: int, request: bytes, *, timeout_s: float = 10.0) -> Response:
    """One request on a new connection (for set-up and checks, not for load)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, limit=READ_LIMIT), timeout_s)
    try:
        writer.write(request)
        return await asyncio.wait_for(read_response(reader), timeout_s)
    finally:
        await _close(writer)


def split_url(url: str) -> tuple[str, int]:
    """(host, port) of an ``http://`` base URL."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"{url!r}: only http://host[:port] URLs are supported")
    return parts.hostname, parts.port or 80


# --- results -----------------------------------------------------------------------


def percentile(sorted_values: Sequence[T], p: float) -> T | float:
    """Nearest-rank percentile: the smallest value with at least p % of values <= it."""
    if not 0 <= p <= 100:
        raise ValueError("p must be between 0 and 100")
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p * len(sorted_values) / 100 - 1e-9))
    return sorted_values[rank - 1]


@dataclass(slots=True)
class LoadResult:
    """What one load run observed inside its measurement window."""

    duration_s: float
    concurrency: int
    statuses: dict[int, int] = field(default_factory=dict)
    """Every response by status, successful or not."""
    errors: dict[str, int] = field(default_factory=dict)
    """Transport failures by kind (exception name, ``unfinished``)."""
    latencies_ns: list[int] = field(default_factory=list)
    """Latencies of successful responses, sorted."""
    client_cpu_s: float = 0.0
    server_cpu_s: float | None = None

    @property
    def ok(self) -> int:
        return len(self.latencies_ns)

    @property
    def bad_statuses(self) -> int:
        return sum(n for status, n in self.statuses.items() if not is_success(status))

    @property
    def error_count(self) -> int:
        return self.bad_statuses + sum(self.errors.values())

    @property
    def rps(self) -> float:
        """Successful responses per second."""
        return self.ok / self.duration_s if self.duration_s > 0 else 0.0

    def percentile_ms(self, p: float) -> float:
        return float(percentile(self.latencies_ns, p)) / 1e6

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(50)

    @property
    def p90_ms(self) -> float:
        return self.percentile_ms(90)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(99)

    @property
    def max_ms(self) -> float:
        return self.percentile_ms(100)

    def error_summary(self) -> str:
        """E.g. ``500x3 ConnectionResetError x1``; empty when there were none."""
        parts = [f"{s}x{n}" for s, n in sorted(self.statuses.items()) if not is_success(s)]
        return " ".join(parts + [f"{kind}x{n}" for kind, n in sorted(self.errors.items())])

    @classmethod
    def merge(cls, results: Sequence[LoadResult]) -> LoadResult:
        """Combine runs that measured the same window in parallel (e.g. client processes)."""
        statuses: Counter[int] = Counter()
        errors: Counter[str] = Counter()
        for r in results:
            statuses.update(r.statuses)
            errors.update(r.errors)
        cpu = [r.server_cpu_s for r in results if r.server_cpu_s is not None]
        return cls(
            duration_s=max(r.duration_s for r in results),
            concurrency=sum(r.concurrency for r in results),
            statuses=dict(statuses),
            errors=dict(errors),
            latencies_ns=sorted(v for r in results for v in r.latencies_ns),
            client_cpu_s=sum(r.client_cpu_s for r in results),
            server_cpu_s=max(cpu) if cpu else None,
        )


# --- the load ----------------------------------------------------------------------


def _picker(source: RequestSource, total_clients: int) -> Callable[[int, int], bytes]:
    if callable(source):
        return source
    requests = list(source)
    if not requests:
        raise ValueError("no requests to send")
    n = len(requests)
    # Each client cycles through the whole list from its own starting point, so every
    # entry is sent equally often and every client sees the whole mix.
    return lambda cid, seq: requests[(cid * n // total_clients + seq) % n]


class _Window:
    def __init__(self, start_ns: int, end_ns: int) -> None:
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.latencies: list[int] = []


async def _client(
    window: _Window,
    cid: int,
    pick: Callable[[int, int], bytes],
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    host: str,
    port: int,
) -> None:
    now = time.perf_counter_ns
    reader, writer = conn
    connected = True
    seq = 0
    try:
        while now() < window.end_ns:
            if not connected:
                try:
                    reader, writer = await asyncio.open_connection(host, port, limit=READ_LIMIT)
                    connected = True
                except OSError as exc:
                    if window.start_ns <= now() < window.end_ns:
                        window.errors[f"connect:{type(exc).__name__}"] += 1
                    await asyncio.sleep(0.05)
                    continue
            request = pick(cid, seq)
            seq += 1
            sent = now()
            try:
                writer.write(request)
                response = await read_response(reader)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ProtocolError) as exc:
                if window.start_ns <= now() < window.end_ns:
                    window.errors[type(exc).__name__] += 1
                await _close(writer)
                connected = False
                continue
            done = now()
            if window.start_ns <= done < window.end_ns:
                window.statuses[response.status] += 1
                if is_success(response.status):
                    window.latencies.append(done - sent)
            if not response.keep_alive:
                await _close(writer)
                connected = False
    finally:
        if connected:
            writer.close()


async def _sleep_until(deadline_ns: int) -> None:
    await asyncio.sleep(max(0.0, (deadline_ns - time.perf_counter_ns()) / 1e9))


async def run_load(
    host: str,
    port: int,
    make_request: RequestSource,
    concurrency: int,
    duration_s: float,
    warmup_s: float = 1.0,
    *,
    grace_s: float = 5.0,
    client_id_offset: int = 0,
    total_clients: int | None = None,
    server_cpu: Callable[[], float] | None = None,
    ready: Callable[[], Awaitable[None]] | None = None,
) -> LoadResult:
    """Drive ``concurrency`` closed-loop clients against host:port and measure the window.

    ``make_request(client_id, seq)`` returns the bytes of a client's next request; a list
    is cycled through by every client, each from its own offset. ``server_cpu`` (seconds of CPU the server has
    used) is sampled at both ends of the window. ``ready`` is awaited once every
    connection is open, before the clock starts (used to line up client processes).
    """
    if concurrency < 1 or duration_s <= 0 or warmup_s < 0:
        raise ValueError("need concurrency >= 1, duration_s > 0 and warmup_s >= 0")
    pick = _picker(make_request, total_clients or concurrency)
    opened = await asyncio.gather(
        *(asyncio.open_connection(host, port, limit=READ_LIMIT) for _ in range(concurrency)),
        return_exceptions=True,
    )
    failures = [c for c in opened if isinstance(c, BaseException)]
    conns = [c for c in opened if not isinstance(c, BaseException)]
    if failures:
        for _, writer in conns:
            await _close(writer)
        raise ConnectionError(f"{len(failures)}/{concurrency} connections to {host}:{port} failed") from (
            failures[0]
        )
    if ready is not None:
        await ready()
    start_ns = time.perf_counter_ns() + int(warmup_s * 1e9)
    window = _Window(start_ns, start_ns + int(duration_s * 1e9))
    tasks = [
        asyncio.create_task(_client(window, client_id_offset + i, pick, conn, host, port))
        for i, conn in enumerate(conns)
    ]
    await _sleep_until(window.start_ns)
    cpu0, server0 = time.process_time(), server_cpu() if server_cpu else None
    await _sleep_until(window.end_ns)
    cpu1, server1 = time.process_time(), server_cpu() if server_cpu else None
    _, pending = await asyncio.wait(tasks, timeout=grace_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(0)  # let the transports closed by cancelled clients finish closing
    if pending:
        window.errors["unfinished"] += len(pending)
    window.latencies.sort()
    return LoadResult(
        duration_s=duration_s,
        concurrency=concurrency,
        statuses=dict(window.statuses),
        errors=dict(window.errors),
        latencies_ns=window.latencies,
        client_cpu_s=cpu1 - cpu0,
        server_cpu_s=server1 - server0 if server0 is not None and server1 is not None else None,
    )


def run_event_loop(coro: Awaitable[T]) -> T:
    """Run a coroutine to completion on uvloop when it is installed."""

    async def main() -> T:
        return await coro

    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())


def _worker(
    out: Any, barrier: Barrier, host: str, port: int, source: RequestSource, kwargs: dict[str, Any]
) -> None:
    async def line_up() -> None:
        await asyncio.to_thread(barrier.wait, 60)

    try:
        out.put(("ok", run_event_loop(run_load(host, port, source, ready=line_up, **kwargs))))
    except BaseException as exc:
        barrier.abort()
        out.put(("error", f"{type(exc).__name__}: {exc}"))


def run_load_sync(
    host: str,
    port: int,
    make_request: RequestSource,
    concurrency: int,
    duration_s: float,
    warmup_s: float = 1.0,
    *,
    processes: int = 1,
    grace_s: float = 5.0,
    server_cpu: Callable[[], float] | None = None,
) -> LoadResult:
    """:func:`run_load` from synchronous code, optionally split over client processes.

    With ``processes > 1`` the clients are divided between spawned processes that start
    their windows together; ``make_request`` and ``server_cpu`` must then be picklable
    (a list of bytes, module-level functions, ``functools.partial`` of them).
    """
    if processes <= 1:
        return run_event_loop(
            run_load(
                host,
                port,
                make_request,
                concurrency,
                duration_s,
                warmup_s,
                grace_s=grace_s,
                server_cpu=server_cpu,
            )
        )
    processes = min(processes, concurrency)
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(processes), ctx.Queue()
    procs = []
    offset = 0
    for i in range(processes):
        share = concurrency // processes + (1 if i < concurrency % processes else 0)
        kwargs: dict[str, Any] = {
            "concurrency": share,
            "duration_s": duration_s,
            "warmup_s": warmup_s,
            "grace_s": grace_s,
            "client_id_offset": offset,
            "total_clients": concurrency,
            "server_cpu": server_cpu if i == 0 else None,
        }
        procs.append(ctx.Process(target=_worker, args=(out, barrier, host, port, make_request, kwargs)))
        offset += share
    for p in procs:
        p.start()
    try:
        replies = [out.get(timeout=duration_s + warmup_s + grace_s + 120) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
                p.join()
    problems = [detail for kind, detail in replies if kind == "error"]
    if problems:
        raise RuntimeError("client process failed: " + "; ".join(problems))
    return LoadResult.merge([result for _, result in replies])


# --- reporting ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Summary:
    """One table row: the median of each figure over repeated runs of a scenario."""

    name: str
    runs: int
    requests: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    """Total over all runs, not a median: one bad response is one too many."""
    ratio: float | None
    """Median over runs of req/s divided by the baseline's req/s in the same round."""
    client_cpu_pct: float
    server_cpu_pct: float | None

    @classmethod
    def of(
        cls, name: str, results: Sequence[LoadResult], baselines: Sequence[LoadResult] | None = None
    ) -> Summary:
        def med(values: Sequence[float]) -> float:
            return statistics.median(values) if values else math.nan

        ratios = [r.rps / b.rps for r, b in zip(results, baselines or (), strict=False) if b.rps > 0]
        server = [r.server_cpu_s / r.duration_s * 100 for r in results if r.server_cpu_s is not None]
        return cls(
            name=name,
            runs=len(results),
            requests=med([r.ok for r in results]),
            rps=med([r.rps for r in results]),
            p50_ms=med([r.p50_ms for r in results]),
            p90_ms=med([r.p90_ms for r in results]),
            p99_ms=med([r.p99_ms for r in results]),
            max_ms=med([r.max_ms for r in results]),
            errors=sum(r.error_count for r in results),
            ratio=med(ratios) if ratios else None,
            client_cpu_pct=med([r.client_cpu_s / r.duration_s * 100 for r in results]),
            server_cpu_pct=med(server) if server else None,
        )


_COLUMNS = (
    ("scenario", 24),
    ("runs", 4),
    ("requests", 9),
    ("req/s", 8),
    ("p50 ms", 7),
    ("p90 ms", 7),
    ("p99 ms", 7),
    ("max ms", 7),
    ("errors", 6),
    ("ratio", 6),
    ("cli CPU", 7),
    ("srv CPU", 7),
)


def _cells(values: Sequence[str]) -> str:
    first, *rest = zip(values, _COLUMNS, strict=True)
    return "  ".join([first[0].ljust(first[1][1])] + [v.rjust(w) for v, (_, w) in rest])


def _num(value: float | None, fmt: str, suffix: str = "") -> str:
    return "-" if value is None or math.isnan(value) else format(value, fmt) + suffix


def table_header() -> str:
    header = _cells([name for name, _ in _COLUMNS])
    return header + "\n" + "-" * len(header)


def format_row(s: Summary) -> str:
    return _cells(
        [
            s.name,
            str(s.runs),
            _num(s.requests, ".0f"),
            _num(s.rps, ".0f"),
            _num(s.p50_ms, ".2f"),
            _num(s.p90_ms, ".2f"),
            _num(s.p99_ms, ".2f"),
            _num(s.max_ms, ".1f"),
            str(s.errors),
            _num(s.ratio, ".2f"),
            _num(s.client_cpu_pct, ".0f", "%"),
            _num(s.server_cpu_pct, ".0f", "%"),
        ]
    )


def format_table(rows: Sequence[Summary]) -> str:
    return "\n".join([table_header(), *(format_row(s) for s in rows)])
