"""Waiting-room benchmark: the queue status path beside GET /healthz, how many polling
waiters one machine holds, and how accurate the announced waits are.

A fresh deployment (bench.sut) gets two events with a waiting room and a
``ticketmaster worker`` running the admission ticker:

1. **Status throughput** (closed loop, ``--concurrency`` clients): ``GET /healthz`` and
   ``GET /events/{id}/queue/status`` of ``--tput-waiters`` real waiters (joined over HTTP;
   nobody is admitted on that event), alternating, ``--repeat`` rounds; the ratio is
   status req/s over healthz req/s of the same round (target >= 0.7).
2. **Waiters held** (open loop, 128 connections): W waiters each poll every
   ``--poll-interval`` s, so W / interval requests per second arrive on schedule whatever
   the server does (latency counts from the scheduled time, so queueing is not hidden). W
   steps through
   ``--waiters``; a level holds when the p99 stays under ``--p99-target-ms``, nothing
   fails and >= 97 % of the schedule is served. The largest level held is reported.
3. **ETA accuracy**: ``--eta-waiters`` buyers join at ``--arrival-rate``/s an event that
   admits ``--eta-rate``/min; a fraction ``--silent`` never polls (abandoners, skipped by
   the ticker after the heartbeat timeout); the others poll every second. The predicted
   admission time (join time + announced wait, and every poll's) is compared with the
   server's admission time.

Example: ``.venv/bin/python -m bench.waiting_room --duration 5 --repeat 3``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from bench import machine
from bench.http1 import READ_LIMIT, build_get, close_quietly, read_response
from bench.loadgen import LoadResult, percentile, run_event_loop, run_load
from bench.report import Summary, format_table
from bench.sut import CLI, ServerUnderTest, add_target_arguments
from ticketmaster.adapters.tokens import TokenSigner

WAIT_EVENT = "evt_queue_bench_wait"
ETA_EVENT = "evt_queue_bench_eta"


def _catalog(eta_rate_per_minute: int) -> dict[str, Any]:
    venue = {
        "id": "ven_queue_bench",
        "name": "Queue Hall",
        "city": "Benchville",
        "sections": [{"id": "s1", "name": "Floor", "rows": [{"id": "A", "seats": 50}]}],
    }
    tiers = [{"id": "pt_1", "name": "All", "priceCents": 5000, "currency": "USD", "sections": ["s1"]}]
    common = {
        "datetime": "2030-06-01T20:00:00Z",
        "venueId": venue["id"],
        "onSaleAt": "2020-01-01T00:00:00Z",
        "waitingRoom": True,
        "priceTiers": tiers,
    }
    return {
        "venues": [venue],
        "events": [
            {
                "id": WAIT_EVENT,
                "title": "Queue Bench Waiting",
                "admissionRatePerMinute": 1,
                "maxAdmitted": 1,
                **common,
            },
            {
                "id": ETA_EVENT,
                "title": "Queue Bench ETA",
                "admissionRatePerMinute": eta_rate_per_minute,
                "maxAdmitted": 100_000,
                "admissionWindowSeconds": 600,
                **common,
            },
        ],
    }


class Pool:
    """Requests over a few raw keep-alive connections (cheap enough to share 2 cores)."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port = host, port
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = asyncio.Queue()
        for _ in range(size):
            self.idle.put_nowait(None)

    async def call(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, Any]:
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Content-Length: 0"]
        raw = ("\r\n".join(head + [f"{k}: {v}" for k, v in headers.items()]) + "\r\n\r\n").encode()
        conn = await self.idle.get()
        try:
            if conn is None:
                conn = await asyncio.open_connection(self.host, self.port, limit=READ_LIMIT)
            conn[1].write(raw)
            response = await read_response(conn[0])
        except BaseException:
            self.idle.put_nowait(None)
            raise
        self.idle.put_nowait(conn if response.keep_alive else None)
        return response.status, json.loads(response.body) if response.body else None

    async def close(self) -> None:
        while not self.idle.empty():
            conn = self.idle.get_nowait()
            if conn is not None:
                await close_quietly(conn[1])


def bearer(signer: TokenSigner, user: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + signer.sign("access", user, 7200)[0]}


async def join_many(target: Any, signer: TokenSigner, event_id: str, count: int) -> list[bytes]:
    """``count`` buyers join over HTTP; returns each one's status request, ready to send."""
    pool = Pool(target.host, target.port, 64)
    sem = asyncio.Semaphore(64)

    async def one(i: int) -> bytes:
        auth = bearer(signer, f"usr_qb{event_id[-3:]}{i}")
        async with sem:
            status, body = await pool.call("POST", f"/events/{event_id}/queue", auth)
        if status != 201:
            raise RuntimeError(f"join answered {status}: {body}")
        return build_get(
            target.host,
            target.port,
            f"/events/{event_id}/queue/status",
            {**auth, "X-Queue-Token": body["queueToken"]},
        )

    try:
        return list(await asyncio.gather(*(one(i) for i in range(count))))
    finally:
        await pool.close()


async def open_loop(
    target: Any, requests: list[bytes], rate: float, duration_s: float, warmup_s: float, connections: int
) -> tuple[int, list[int], Counter[str]]:
    """Requests sent on a fixed schedule; returns (scheduled in window, latencies ns, errors)."""
    due: asyncio.Queue[tuple[int, int] | None] = asyncio.Queue()
    start = time.perf_counter_ns() + 50_000_000
    window_start = start + int(warmup_s * 1e9)
    latencies: list[int] = []
    errors: Counter[str] = Counter()
    total = int((warmup_s + duration_s) * rate)

    def at(n: int) -> int:
        return start + int(n * 1e9 / rate)

    async def produce() -> None:
        n = 0
        while n < total:
            now = time.perf_counter_ns()
            while n < total and at(n) <= now:  # everything due by now, then sleep until the next
                due.put_nowait((at(n), n))
                n += 1
            if n < total:
                await asyncio.sleep(max(0.0005, (at(n) - now) / 1e9))
        for _ in range(connections):
            due.put_nowait(None)

    async def work() -> None:
        reader, writer = await asyncio.open_connection(target.host, target.port, limit=READ_LIMIT)
        while (item := await due.get()) is not None:
            scheduled_at, n = item
            try:
                writer.write(requests[n % len(requests)])
                response = await read_response(reader)
            except (OSError, asyncio.IncompleteReadError) as exc:
                errors[type(exc).__name__] += 1
                reader, writer = await asyncio.open_connection(target.host, target.port, limit=READ_LIMIT)
                continue
            if scheduled_at >= window_start:
                if response.status == 200:
                    latencies.append(time.perf_counter_ns() - scheduled_at)
                else:
                    errors[str(response.status)] += 1
        await close_quietly(writer)

    await asyncio.gather(produce(), *(work() for _ in range(connections)))
    scheduled = sum(1 for n in range(total) if at(n) >= window_start)
    latencies.sort()
    return scheduled, latencies, errors


async def eta_run(target: Any, signer: TokenSigner, args: argparse.Namespace) -> dict[str, Any]:
    """Buyers arrive, poll every second until admitted; predictions vs the admission time."""
    pool = Pool(target.host, target.port, 32)
    rng = random.Random(7)
    join_errors: list[float] = []  # actual - predicted, seconds, for the join-time prediction
    poll_errors: list[tuple[float, float]] = []  # (remaining announced wait, actual - predicted)
    waits: list[float] = []

    async def buyer(i: int) -> None:
        await asyncio.sleep(i / args.arrival_rate)
        auth = bearer(signer, f"usr_eta{i}")
        joined_at = time.time()
        _, body = await pool.call("POST", f"/events/{ETA_EVENT}/queue", auth)
        predicted = joined_at + body["estimatedWaitSeconds"]
        if rng.random() < args.silent:
            return  # an abandoner: never polls again
        headers = {**auth, "X-Queue-Token": body["queueToken"]}
        polls: list[tuple[float, float]] = []
        while True:
            asked = time.time()
            _, status = await pool.call("GET", f"/events/{ETA_EVENT}/queue/status", headers)
            if status["admitted"]:
                actual = datetime.fromisoformat(status["admittedAt"].replace("Z", "+00:00")).timestamp()
                join_errors.append(actual - predicted)
                waits.append(actual - joined_at)
                poll_errors.extend((eta, actual - (at + eta)) for at, eta in polls)
                return
            polls.append((asked, status["estimatedWaitSeconds"]))
            await asyncio.sleep(1.0)

    try:
        await asyncio.gather(*(buyer(i) for i in range(args.eta_waiters)))
    finally:
        await pool.close()
    return {"join": join_errors, "polls": poll_errors, "waits": waits}


def _abs_stats(errors: list[float]) -> str:
    if not errors:
        return "n=0"
    magnitudes = sorted(abs(e) for e in errors)
    return (
        f"n={len(errors)}  median |error| {statistics.median(magnitudes):.1f} s  "
        f"p90 |error| {float(percentile(magnitudes, 90)):.1f} s  mean (actual-predicted) "
        f"{statistics.fmean(errors):+.1f} s"
    )


def part1(target: Any, waiters: list[bytes], args: argparse.Namespace) -> None:
    print(f"\n1. status throughput beside /healthz, {args.concurrency} clients, {args.repeat} rounds")
    assert target.pid is not None
    cpu = partial(machine.process_cpu_seconds, target.pid)
    healthz = [build_get(target.host, target.port, "/healthz")]
    base: list[LoadResult] = []
    polls: list[LoadResult] = []
    for _ in range(args.repeat):
        for requests, into in ((healthz, base), (waiters[: args.tput_waiters], polls)):
            load = run_load(
                target.host,
                target.port,
                requests,
                args.concurrency,
                args.duration,
                args.warmup,
                server_cpu=cpu,
            )
            into.append(run_event_loop(load))
    print(format_table([Summary.of("GET /healthz", base), Summary.of("GET queue/status", polls, base)]))


def part2(target: Any, waiters: list[bytes], levels: list[int], args: argparse.Namespace) -> None:
    interval = args.poll_interval
    print(f"\n2. waiters polling every {interval:g} s (open loop, p99 target {args.p99_target_ms:g} ms)")
    print(f"{'waiters':>8} {'offered/s':>10} {'served/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}  held")
    best = 0
    for level in levels:
        rate = level / interval
        run = open_loop(target, waiters[:level], rate, args.duration, args.warmup, connections=128)
        scheduled, lat, errors = run_event_loop(run)
        p50, p99 = float(percentile(lat, 50)) / 1e6, float(percentile(lat, 99)) / 1e6
        held = not errors and len(lat) >= 0.97 * scheduled and p99 <= args.p99_target_ms
        print(
            f"{level:>8} {rate:>10.0f} {len(lat) / args.duration:>9.0f} {p50:>8.2f} {p99:>8.2f} "
            f"{sum(errors.values()):>7}  {'yes' if held else 'no'}"
        )
        if not held:
            break
        best = level
    print(f"most waiters held by one API process: {best} (each polling every {interval:g} s)")


def part3(target: Any, signer: TokenSigner, args: argparse.Namespace) -> None:
    print(
        f"\n3. ETA accuracy: {args.eta_waiters} buyers arriving at {args.arrival_rate:g}/s, admission "
        f"{args.eta_rate}/min, {args.silent:.0%} abandon right after joining"
    )
    longest = args.eta_waiters / (args.eta_rate / 60) * 3 + 60
    eta = run_event_loop(asyncio.wait_for(eta_run(target, signer, args), longest))
    print(f"waits: median {statistics.median(eta['waits']):.1f} s, max {max(eta['waits']):.1f} s")
    print("announced at join:  " + _abs_stats(eta["join"]))
    print("announced at polls: " + _abs_stats([e for _, e in eta["polls"]]))
    relative = sorted(abs(e / r) for r, e in eta["polls"] if r >= 10)
    if relative:
        print(
            f"relative error of poll estimates >= 10 s: median {statistics.median(relative):.0%}, "
            f"p90 {float(percentile(relative, 90)):.0%}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_target_arguments(parser)
    parser.add_argument("--concurrency", type=int, default=32, help="closed-loop clients (32)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per run (5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per run (1)")
    parser.add_argument("--repeat", type=int, default=3, help="throughput rounds; medians reported (3)")
    parser.add_argument("--tput-waiters", type=int, default=2000, help="waiters polled in part 1 (2000)")
    parser.add_argument("--waiters", default="2000,4000,5000,6000,7000,8000,10000", help="part 2 levels")
    parser.add_argument("--poll-interval", type=float, default=3.0, help="seconds between polls (3)")
    parser.add_argument("--p99-target-ms", type=float, default=50.0, help="part 2 p99 bound (50)")
    parser.add_argument("--eta-waiters", type=int, default=300, help="part 3 buyers (300)")
    parser.add_argument("--arrival-rate", type=float, default=30.0, help="part 3 arrivals/s (30)")
    parser.add_argument("--eta-rate", type=int, default=600, help="part 3 admissions/min (600)")
    parser.add_argument("--silent", type=float, default=0.2, help="part 3 abandoner fraction (0.2)")
    args = parser.parse_args()
    if args.url:
        parser.error("--url is not supported: the benchmark needs its own deployment and worker")
    for line in machine.describe():
        print(line)
    secret = secrets.token_urlsafe(48)
    extra = {
        "TICKETMASTER_SECRET_KEY": secret,
        "TICKETMASTER_MAX_IN_FLIGHT": "100000",
        "TICKETMASTER_RATE_LIMIT_PER_SECOND": "1000",
        "TICKETMASTER_QUEUE_HEARTBEAT_TIMEOUT_SECONDS": "5",
    }
    signer = TokenSigner(secret)
    levels = [int(n) for n in args.waiters.split(",")]
    sut = ServerUnderTest(args.database_url, args.redis_url, seed_demo=False, extra_env=extra)
    with sut as target, tempfile.TemporaryDirectory() as tmp:
        env = sut.env(Path(tmp))
        catalog = Path(tmp) / "queue.json"
        catalog.write_text(json.dumps(_catalog(args.eta_rate)))
        sut.cli(env, "import", str(catalog))
        worker = subprocess.Popen([*CLI, "worker"], env=env, stderr=subprocess.DEVNULL)
        try:
            print(f"server: {target.description}; admission ticker: `ticketmaster worker` pid {worker.pid}")
            count = max(*levels, args.tput_waiters)
            waiters = run_event_loop(join_many(target, signer, WAIT_EVENT, count))
            print(f"{count} waiters joined {WAIT_EVENT} over HTTP (it admits 1/min: everybody keeps waiting)")
            part1(target, waiters, args)
            part2(target, waiters, levels, args)
            part3(target, signer, args)
        finally:
            worker.terminate()
            worker.wait(timeout=15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
