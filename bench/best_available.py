"""Best-available holds beside specific-seat holds: holds/s, latency and 409s through the
full HTTP stack on the 52,000-seat stadium, both measured in the same run (and
GET /healthz as the baseline), alternating within each round.

Setup as bench.holds (a fresh deployment with its worker, the bench event at the demo
stadium, a hold TTL of ``--hold-ttl`` seconds so seats recycle, distinct buyers and
Idempotency-Keys). Specific holds ask for 1-4 random contiguous seats (409 when one is
taken); best-available holds for ``{"best": {"count": 1..4}}``, so every request competes
for the best rows and the gate finds the next best block each time.

Then the sell-out: a second fresh deployment whose holds outlast the run (TTL 1 h), with
one stadium event per round, each sold out by best-available requests alone. Each of
``--clients`` clients asks for 1-4 seats, after a 409 for one fewer, and stops at a 409
for one seat (the event is sold out then). Reported per event: the time to sell out,
successful holds/s and seats/s over it, p50/p99 of the 201s, the 409s, and how many of
those came while a fitting block still existed (must be 0). The last is decided exactly,
as in tests/e2e/test_best_available.py: a 409 names the seat-map version it was decided
at, the seat change log (read while the sale runs, before Redis trims it) gives the
seats taken at that version, and the reference rule (domain/best_available.choose) says
whether anything fitted.

Example: ``.venv/bin/python -m bench.best_available --duration 6 --repeat 3``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import asyncpg
import redis.asyncio as redis

from bench.holds import (
    ROWS,
    SEATS_PER_ROW,
    SECTIONS,
    VENUE_ID,
    HoldRequests,
    hold_bench_env,
    hold_rates,
    stadium,
    stadium_deployment,
)
from bench.http1 import READ_LIMIT, ProtocolError, build_get, close_quietly, read_response
from bench.loadgen import LoadResult, run_event_loop, run_load
from bench.sut import ServerUnderTest, Target, add_target_arguments, with_database
from ticketmaster.adapters.postgres.holds import PostgresHoldRepository
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.domain.best_available import SeatSearch, choose
from ticketmaster.domain.layout import VenueLayout

SELLOUT_HOLD_TTL_S = 3600  # no hold of a sell-out lapses before it is checked
LOG_BATCH = 5000  # change log entries read at a time
GIVE_UP_AFTER = 10  # consecutive failed requests (not 201, not a 409 seats_unavailable)


def _best(rng: random.Random) -> dict[str, object]:
    return {"best": {"count": rng.randint(1, 4)}}


@dataclass(slots=True)
class SellOut:
    """What one sell-out observed: ``result`` over the whole sale (201 latencies only), the
    409 ``seats_unavailable`` answers as (count asked for, version decided at), and the
    seat change log as (version, {seat id: raw state, "" = available})."""

    result: LoadResult
    refused: list[tuple[int, int]]
    log: list[tuple[int, dict[str, str]]]


async def _read_log(client: redis.Redis, key: str, into: list[tuple[int, dict[str, str]]]) -> None:
    """Append the log's entries after the last one read (all of them, batch by batch)."""
    while True:
        after = f"({into[-1][0]}-0" if into else "-"
        reply = await client.xrange(key, min=after, count=LOG_BATCH)
        entries = cast(list[tuple[str, dict[str, str]]], reply or [])  # decode_responses: str
        for entry_id, fields in entries:
            version = int(entry_id.split("-")[0])
            if into and version != into[-1][0] + 1:
                raise RuntimeError(f"change log trimmed before it was read: {into[-1][0]} -> {version}")
            if not into and "*reset" not in fields:
                raise RuntimeError("the change log does not start with the event's load")
            if into and "*reset" in fields:
                raise RuntimeError(f"the event was reloaded during the sell-out (version {version})")
            into.append((version, {k: v for k, v in fields.items() if k not in ("*reset", "-")}))
        if len(entries) < LOG_BATCH:
            return


async def sell_out(
    target: Target, requests: HoldRequests, clients: int, seed: int, log_client: redis.Redis, log_key: str
) -> SellOut:
    """Best-available shoppers on ``clients`` keep-alive connections until each is refused one
    seat (or gives up), the change log read every 0.2 s meanwhile."""
    host, port = target.host, target.port
    rng = random.Random(seed)
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    latencies: list[int] = []
    refused: list[tuple[int, int]] = []
    log: list[tuple[int, dict[str, str]]] = []
    await _read_log(log_client, log_key, log)
    conns = [await asyncio.open_connection(host, port, limit=READ_LIMIT) for _ in range(clients)]

    async def shopper(cid: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        count, seq, failures = rng.randint(1, 4), 0, 0
        while count and failures < GIVE_UP_AFTER:
            sent = time.perf_counter_ns()
            try:
                writer.write(requests.request({"best": {"count": count}}, cid, seq))
                response = await read_response(reader)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ProtocolError) as exc:
                errors[type(exc).__name__] += 1
                failures += 1
                await close_quietly(writer)
                reader, writer = await asyncio.open_connection(host, port, limit=READ_LIMIT)
                continue
            done = time.perf_counter_ns()
            seq += 1
            statuses[response.status] += 1
            body = json.loads(response.body) if response.body else {}
            if response.status == 201:
                latencies.append(done - sent)
                count, failures = rng.randint(1, 4), 0
            elif response.status == 409 and body.get("error") == "seats_unavailable":
                refused.append((count, int(body["version"])))
                count, failures = count - 1, 0
            else:
                errors[f"{response.status} {body.get('error', '')}".strip()] += 1
                failures += 1
            if not response.keep_alive:
                await close_quietly(writer)
                reader, writer = await asyncio.open_connection(host, port, limit=READ_LIMIT)
        await close_quietly(writer)

    async def follow_log(stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)
            await _read_log(log_client, log_key, log)

    stop = asyncio.Event()
    follower = asyncio.create_task(follow_log(stop))
    start = time.perf_counter_ns()
    try:
        await asyncio.gather(*(shopper(cid, r, w) for cid, (r, w) in enumerate(conns)))
    finally:
        elapsed_s = (time.perf_counter_ns() - start) / 1e9
        stop.set()
        await follower
    latencies.sort()
    return SellOut(LoadResult(elapsed_s, clients, dict(statuses), dict(errors), latencies), refused, log)


def fitting_refusals(layout: VenueLayout, sale: SellOut) -> tuple[int, int]:
    """(409s while a fitting block existed, seats taken at the end): the log replayed, and
    each refusal put to the reference rule at the version it was decided at."""
    ranked = layout.ranked_rows
    whole = ((0, len(ranked) - 1),)
    place = {row.seat(n): (row.index, n - 1) for row in ranked for n in range(1, row.seats + 1)}
    free = {row.index: [True] * row.seats for row in ranked}
    pending = sorted(set(sale.refused), key=lambda r: r[1])
    fitted: set[tuple[int, int]] = set()

    def check_until(version: int) -> None:
        """Check the refusals decided before ``version`` against the seats taken so far."""
        while pending and pending[0][1] < version:
            count, at = pending.pop(0)
            # Rows with fewer than ``count`` free seats offer no choice: left out, for speed.
            rows = [r for r in ranked if sum(free[r.index]) >= count]
            states: dict[int, Sequence[bool]] = {r.index: free[r.index] for r in rows}
            if choose(rows, states, SeatSearch(count, True, whole)) is not None:
                fitted.add((count, at))

    first = sale.log[0][0]
    if pending and pending[0][1] < first:
        raise RuntimeError(f"a 409 at version {pending[0][1]}, before the log's start {first}")
    for version, fields in sale.log:
        check_until(version)
        for seat, state in fields.items():
            row, i = place[seat]
            free[row][i] = state == ""
    check_until(sale.log[-1][0] + 1)
    if pending:
        raise RuntimeError(f"{len(pending)} 409s name versions after the log's last entry")
    taken = sum(not f for states in free.values() for f in states)
    return sum(1 for r in sale.refused if r in fitted), taken


async def _venue_layout(database_url: str) -> VenueLayout:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        layout = await PostgresHoldRepository(pool).venue_layout(VENUE_ID)
    finally:
        await pool.close()
    if layout is None:
        raise RuntimeError(f"venue {VENUE_ID} is not in the deployment")
    return layout


async def _sell_out_event(
    sut: ServerUnderTest, target: Target, requests: HoldRequests, event_id: str, clients: int, seed: int
) -> SellOut:
    client = redis.Redis.from_url(sut.redis_url, decode_responses=True)
    try:
        key = RedisKeys(sut.namespace).seat_changes(event_id)
        return await sell_out(target, requests, clients, seed, client, key)
    finally:
        await client.aclose()


def sell_outs(args: argparse.Namespace) -> None:
    """The sell-out phase: ``--repeat`` stadium events sold out on a deployment of their own."""
    events = [f"evt_bench_sellout_{n}" for n in range(1, args.repeat + 1)]
    env = hold_bench_env(SELLOUT_HOLD_TTL_S)
    seats = 0
    # A buyer holds at most 4 seats a request: one per seat of the stadium keeps every buyer
    # within the per-buyer limit of 8 even when the tokens come round a second time.
    with stadium(args, env, SECTIONS * len(ROWS) * SEATS_PER_ROW, events) as (sut, target, tokens):
        layout = run_event_loop(_venue_layout(with_database(args.database_url, sut.database_name)))
        seats = layout.seat_count
        print(f"\nsell-out by best available alone: {target.description}; {args.clients} clients")
        rows: list[list[float]] = []
        for round_no, event_id in enumerate(events):
            requests = HoldRequests(target.host, target.port, tokens, 1000 + round_no, event_id=event_id)
            sale = run_event_loop(_sell_out_event(sut, target, requests, event_id, args.clients, round_no))
            wrong, taken = fitting_refusals(layout, sale)
            r = sale.result
            created = r.statuses.get(201, 0)
            held = sum(len(fields) for _, fields in sale.log)
            other = sum(r.errors.values())
            if other:
                print(f"  {event_id}: {r.statuses} {r.errors}", file=sys.stderr)
            rates = [created / r.duration_s, held / r.duration_s]
            rows.append([r.duration_s, *rates, r.p50_ms, r.p99_ms, len(sale.refused), wrong, taken, other])
        print(
            f"{'event':<20} {'seconds':>8} {'2xx/s':>7} {'seats/s':>8} {'p50 ms':>7} {'p99 ms':>7}"
            f" {'409s':>5} {'409s, block fitted':>18} {'seats taken':>12} {'errors':>6}"
        )
        for event_id, row in zip(events, rows, strict=True):
            _sellout_line(event_id, row, seats)
        if len(rows) > 1:
            _sellout_line("median", [statistics.median(v[i] for v in rows) for i in range(9)], seats)
        print(
            "latency percentiles are of 2xx responses; seats/s counts the log's seat changes;"
            " '409s, block fitted' must be 0 and 'seats taken' the whole venue"
        )


def _sellout_line(name: str, row: Sequence[float], seats: int) -> None:
    print(
        f"{name:<20} {row[0]:>8.1f} {row[1]:>7.0f} {row[2]:>8.0f} {row[3]:>7.1f} {row[4]:>7.1f}"
        f" {row[5]:>5.0f} {row[6]:>18.0f} {f'{row[7]:.0f}/{seats}':>12} {row[8]:>6.0f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_target_arguments(parser)
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (50)")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds measured per scenario (6)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per scenario (1)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds, and events sold out; medians are reported (3)"
    )
    parser.add_argument("--hold-ttl", type=int, default=3, help="hold TTL of the first deployment, s (3)")
    args = parser.parse_args()
    buyers = int(args.clients * 40 * args.duration * 2)
    with stadium_deployment(args, hold_bench_env(args.hold_ttl), buyers) as (target, tokens):
        print(f"server: {target.description}; hold TTL {args.hold_ttl}s; {args.clients} clients")
        healthz = build_get(target.host, target.port, "/healthz")
        half = len(tokens) // 2
        rows: dict[str, list[tuple[float, float, float, float, float]]] = {}
        ratios: list[float] = []
        for round_no in range(args.repeat):
            base = run_event_loop(
                run_load(target.host, target.port, [healthz], args.clients, args.duration, args.warmup)
            )
            rows.setdefault("GET /healthz", []).append((base.rps, 0.0, base.p50_ms, base.p99_ms, 0.0))
            got: dict[str, float] = {}
            for name, pool, body in (
                ("specific seats", tokens[:half], None),
                ("best available", tokens[half:], _best),
            ):
                requests = HoldRequests(target.host, target.port, pool, 7 * round_no + len(name), body=body)
                result = run_event_loop(
                    run_load(target.host, target.port, requests, args.clients, args.duration, args.warmup)
                )
                created, conflicts, other = hold_rates(result)
                if other and round_no == 0:
                    print(f"  {name}: {result.statuses} {result.errors}", file=sys.stderr)
                rows.setdefault(name, []).append((created, conflicts, result.p50_ms, result.p99_ms, other))
                got[name] = created
            ratios.append(got["best available"] / got["specific seats"] if got["specific seats"] else 0.0)
        print(f"\n{'scenario':<16} {'2xx/s':>8} {'409/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        for name, values in rows.items():
            med = [statistics.median(v[i] for v in values) for i in range(5)]
            print(f"{name:<16} {med[0]:>8.0f} {med[1]:>8.0f} {med[2]:>8.1f} {med[3]:>8.1f} {med[4]:>7.0f}")
        print(
            "best available / specific seats, successful holds/s per round: "
            + ", ".join(f"{r:.2f}" for r in ratios)
            + f" (median {statistics.median(ratios):.2f})"
        )
        print(
            "medians over rounds; latency percentiles are of 2xx responses;"
            " targets: ratio >= 0.8, p99 < 50 ms"
        )
    sell_outs(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
