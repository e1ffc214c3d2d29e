"""Live seat stream benchmark: how late, and at what server cost, each of many subscribers of
``GET /events/{id}/seats/stream`` learns of a hold.

Setup as bench.holds (a fresh deployment with its worker, the 52,000-seat stadium event).
Per level in ``--subscribers``: that many SSE subscribers connect (raw sockets, one process),
then a client makes holds at a paced ``--hold-rate`` for ``--duration`` seconds. Each hold's
seats are distinct from every other hold's (no conflicts), so "subscriber S saw seat X
HELD" belongs to one hold. Delivery lag = when S read the event naming the seat minus when
the hold's 201 arrived: the poll period (200 ms) bounds it, plus fan-out. Also printed: the
API process's CPU while streaming, next to the same holds with no subscriber.

Example: ``.venv/bin/python -m bench.streams --subscribers 0,1000,3000 --duration 5``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from bench import machine
from bench.holds import EVENT_ID, ROWS, SEATS_PER_ROW, SECTIONS, stadium_deployment
from bench.http1 import READ_LIMIT, build_get, close_quietly, read_response
from bench.loadgen import percentile, run_event_loop
from bench.sut import add_target_arguments


class Subscriber:
    """One SSE connection; records when each seat was first reported HELD."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.writer: asyncio.StreamWriter | None = None

    async def open(self, host: str, port: int) -> asyncio.StreamReader:
        reader, self.writer = await asyncio.open_connection(host, port, limit=READ_LIMIT)
        self.writer.write(build_get(host, port, f"/events/{EVENT_ID}/seats/stream"))
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"stream refused: {head[:80]!r}")
        return reader

    async def listen(self, reader: asyncio.StreamReader) -> None:
        while True:
            line = await reader.readline()
            if not line:
                return
            if line.startswith(b"data: "):
                now = time.perf_counter()
                for change in json.loads(line[6:])["changes"]:
                    if change["status"] == "HELD":
                        self.seen.setdefault(change["seatId"], now)


def _seat_runs() -> list[list[str]]:
    """Disjoint 2-seat runs over the whole stadium."""
    return [
        [f"s{s:02d}-{row}-{n}", f"s{s:02d}-{row}-{n + 1}"]
        for s in range(1, SECTIONS + 1)
        for row in ROWS
        for n in range(1, SEATS_PER_ROW, 2)
    ]


async def _hold(host: str, port: int, token: str, key: str, seats: list[str]) -> bool:
    body = json.dumps({"seatIds": seats}).encode()
    request = (
        f"POST /events/{EVENT_ID}/holds HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Idempotency-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    reader, writer = await asyncio.open_connection(host, port, limit=READ_LIMIT)
    try:
        writer.write(request)
        return (await read_response(reader)).status == 201
    finally:
        await close_quietly(writer)


async def _scenario(
    host: str,
    port: int,
    pid: int,
    subscribers: int,
    tokens: list[str],
    runs: list[list[str]],
    args: argparse.Namespace,
) -> tuple[list[float], float, int]:
    subs = [Subscriber() for _ in range(subscribers)]
    readers = await asyncio.gather(*(s.open(host, port) for s in subs))
    listeners = [asyncio.create_task(s.listen(r)) for s, r in zip(subs, readers, strict=True)]
    made: dict[str, float] = {}  # first seat of each hold -> when its 201 arrived
    count = int(args.hold_rate * args.duration)
    cpu0 = machine.process_cpu_seconds(pid)
    start = time.perf_counter()

    async def one(i: int) -> None:
        await asyncio.sleep(max(0.0, start + i / args.hold_rate - time.perf_counter()))  # the schedule
        seats = runs.pop()
        if await _hold(host, port, tokens[i % len(tokens)], f"s{subscribers}-{i}", seats):
            made[seats[0]] = time.perf_counter()

    await asyncio.gather(*(one(i) for i in range(count)))
    await asyncio.sleep(1.0)  # the last polls reach everyone (the period is 0.2 s)
    cpu = machine.process_cpu_seconds(pid) - cpu0
    wall = time.perf_counter() - start
    for task in listeners:
        task.cancel()
    for s in subs:
        if s.writer is not None:
            await close_quietly(s.writer)
    lags = sorted((s.seen[seat] - at) * 1000 for s in subs for seat, at in made.items() if seat in s.seen)
    missed = sum(1 for s in subs for seat in made if seat not in s.seen)
    return lags, 100 * cpu / wall, missed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_target_arguments(parser)
    parser.add_argument("--subscribers", default="0,1000,3000", help="subscriber counts (0,1000,3000)")
    parser.add_argument("--hold-rate", type=float, default=100.0, help="holds/s, paced (100)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of holds per level (5)")
    args = parser.parse_args()
    levels = [int(n) for n in args.subscribers.split(",")]
    needed = int(args.hold_rate * args.duration) * len(levels)
    extra = {"TICKETMASTER_HOLD_TTL_SECONDS": "600", "TICKETMASTER_RATE_LIMIT_PER_SECOND": "1000"}
    with stadium_deployment(args, extra, needed) as (target, tokens):
        runs = _seat_runs()
        if needed > len(runs):
            parser.error(f"{needed} holds need more seats than the stadium has; lower --hold-rate/--duration")
        assert target.pid is not None
        print(
            f"server: {target.description};"
            f" {args.hold_rate:.0f} holds/s for {args.duration:.0f} s per level\n"
        )
        print(
            f"{'subscribers':>11} {'lag p50 ms':>11} {'lag p99 ms':>11} {'lag max ms':>11}"
            f" {'missed':>7} {'API CPU':>8}"
        )
        for level in levels:
            lags, cpu_pct, missed = run_event_loop(
                _scenario(target.host, target.port, target.pid, level, tokens, runs, args)
            )
            if lags:
                p50, p99, top = percentile(lags, 50), percentile(lags, 99), lags[-1]
                print(f"{level:>11} {p50:>11.0f} {p99:>11.0f} {top:>11.0f} {missed:>7} {cpu_pct:>7.0f}%")
            else:
                print(f"{level:>11} {'-':>11} {'-':>11} {'-':>11} {missed:>7} {cpu_pct:>7.0f}%")
        print(
            "lag: from a hold's 201 to each subscriber reading the event that names its seats;"
            " missed: (subscriber, hold) pairs never reported"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
