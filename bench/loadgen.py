"""A closed-loop HTTP/1.1 load generator on raw asyncio streams.

Why not httpx: on a 2-core machine the client competes with the server for CPU. Writing
pre-built request bytes to a keep-alive socket and parsing only the status line,
headers and framing of the answer (:mod:`bench.http1`) costs a small fraction of what a
full client costs, so the numbers describe the server, not the client. Result tables
are in :mod:`bench.report`, the server under test in :mod:`bench.sut`.

Model. ``concurrency`` virtual clients, each with its own keep-alive connection, send a
request, wait for the whole response, record its latency and send the next one (closed
loop: the offered load follows the server's speed, and latency excludes time a request
would have waited in a real arrival queue, so compare ratios within a run rather than
absolute latencies across machines).

Paced mode. With ``rate`` (requests/s over all clients) each client instead starts its
requests on a fixed schedule (its share of the rate, offset so the clients interleave),
whether or not the previous answer was fast: the offered load no longer follows the
server. Latency is then measured from the scheduled start, so a request that had to wait
for its client's previous one counts that wait (no coordinated omission).

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
import math
import multiprocessing
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.synchronize import Barrier
from typing import Any, TypeVar

from bench.http1 import READ_LIMIT, ProtocolError, close_quietly, is_success, read_response

T = TypeVar("T")
RequestSource = Callable[[int, int], bytes] | list[bytes]
"""Request bytes per (client id, sequence number), or a list every client cycles through."""


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
        """E.g. ``500 x3, ConnectionResetError x1``; empty when there were none."""
        parts = [f"{s} x{n}" for s, n in sorted(self.statuses.items()) if not is_success(s)]
        return ", ".join(parts + [f"{kind} x{n}" for kind, n in sorted(self.errors.items())])

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
    pace_ns: int = 0,
) -> None:
    now = time.perf_counter_ns
    reader, writer = conn
    connected = True
    seq = 0
    # Paced: the first start is spread over one interval by client id (golden-ratio offsets).
    scheduled = now() + int(pace_ns * ((cid * 0.6180339887) % 1.0))
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
            if pace_ns:
                if now() < scheduled:
                    await _sleep_until(scheduled)
                sent = scheduled
                scheduled += pace_ns
            else:
                sent = now()
            try:
                writer.write(request)
                response = await read_response(reader)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ProtocolError) as exc:
                if window.start_ns <= now() < window.end_ns:
                    window.errors[type(exc).__name__] += 1
                await close_quietly(writer)
                connected = False
                continue
            done = now()
            if window.start_ns <= done < window.end_ns:
                window.statuses[response.status] += 1
                if is_success(response.status):
                    window.latencies.append(done - sent)
            if not response.keep_alive:
                await close_quietly(writer)
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
    rate: float | None = None,
) -> LoadResult:
    """Drive ``concurrency`` closed-loop clients against host:port and measure the window
    (with ``rate``, paced clients offering that many requests/s in all).

    ``make_request(client_id, seq)`` returns the bytes of a client's next request; a list
    is cycled through by every client, each from its own offset. ``server_cpu`` (seconds of CPU the server has
    used) is sampled at both ends of the window. ``ready`` is awaited once every
    connection is open, before the clock starts (used to line up client processes).
    """
    if concurrency < 1 or duration_s <= 0 or warmup_s < 0:
        raise ValueError("need concurrency >= 1, duration_s > 0 and warmup_s >= 0")
    if rate is not None and rate <= 0:
        raise ValueError("rate must be positive")
    pace_ns = int(concurrency / rate * 1e9) if rate else 0
    pick = _picker(make_request, total_clients or concurrency)
    opened = await asyncio.gather(
        *(asyncio.open_connection(host, port, limit=READ_LIMIT) for _ in range(concurrency)),
        return_exceptions=True,
    )
    failures = [c for c in opened if isinstance(c, BaseException)]
    conns = [c for c in opened if not isinstance(c, BaseException)]
    if failures:
        for _, writer in conns:
            await close_quietly(writer)
        raise ConnectionError(f"{len(failures)}/{concurrency} connections to {host}:{port} failed") from (
            failures[0]
        )
    if ready is not None:
        await ready()
    start_ns = time.perf_counter_ns() + int(warmup_s * 1e9)
    window = _Window(start_ns, start_ns + int(duration_s * 1e9))
    tasks = [
        asyncio.create_task(_client(window, client_id_offset + i, pick, conn, host, port, pace_ns))
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
