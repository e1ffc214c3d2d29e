"""Seat-gate benchmark: the production Redis Lua gate against three PostgreSQL gates,
side by side in one run under the same contention (SPEC §5: Redis >= 5x the successful
holds/s of the PostgreSQL row-lock gate).

Gates. Each takes one hold as one atomic all-or-nothing decision behind the same small
interface (``try_hold(user, seat_ids)`` -> held or conflict, ``release(hold)``):
  * ``redis``: ``RedisSeatGate`` exactly as the API uses it (hold.lua / release.lua,
    the production client factory, a fresh event per run, a unique idempotency key and
    hold id per attempt);
  * ``for-update``: BEGIN; SELECT the seat rows ... ORDER BY seat_id FOR UPDATE; all
    AVAILABLE? UPDATE them to HELD; COMMIT (else ROLLBACK: conflict);
  * ``cond-update``: BEGIN; one ``UPDATE ... WHERE seat_id = ANY(..) AND status =
    'AVAILABLE'``; COMMIT when it changed every seat, else ROLLBACK (conflict);
  * ``optimistic``: read the seats and their versions without locks; all AVAILABLE? then
    in one transaction one ``UPDATE ... WHERE seat_id = .. AND version = <read>`` per seat;
    a seat that changed meanwhile rolls the transaction back and the attempt starts over
    (at most ``--retries`` times; every retry is counted, running out is a conflict).
The PostgreSQL gates share an asyncpg pool built by the production ``create_pool`` with
``--pool-size`` connections: clients beyond it wait for a connection, and that wait is
part of the measured latency. A release is one autocommit statement locking the hold's
rows in seat order and freeing them (PostgreSQL), or release.lua (Redis); it only frees
seats still held by that hold.

Load. ``--clients`` closed-loop clients in one process (uvloop when installed), each with
its own user id, repeat: pick 1-4 contiguous seats of ``--seats`` (``--hot``: 50 seats),
try to hold them; a successful hold is released at once with probability ``-p``,
otherwise kept in the client's cart and released after the client's next ``--keep``
attempts. So every client holds at most ``--keep + 1`` holds, the share of seats held
stays bounded and the contention stays the same for the whole run instead of selling out.
Every gate starts each run from a fresh event with every seat AVAILABLE.

Window and figures. Attempts completing in the first ``--warmup`` seconds are discarded,
then the next ``--duration`` seconds are measured: successful holds/s, conflicts/s
(seats taken, including optimistic attempts that ran out of retries), optimistic
retries/s, errors (deadlocks, timeouts ...; they count as neither), latency p50/p99 of a
hold attempt (held or conflict, from the first pool wait or Redis call to the answer),
the client process CPU and the database server CPU in % of one core (Redis: the whole
server from INFO, other users of a shared server included; PostgreSQL: the pool's
backend processes, WAL writer and checkpointer left out), and their sum per successful
hold, which other processes taking CPU on a shared machine disturb less than holds/s.
Every hold also goes through a double-hold check: a seat granted twice at once is a gate
bug. With ``--hot`` few seats are ever free, so successful holds/s mostly measures how
fast holders come back to release them; conflicts/s then shows the gate's capacity.

Rounds. ``--repeat`` rounds run the gates interleaved (a b c d, a b c d, ...), so slow
drifts of a noisy machine hit every gate alike. Table figures are medians over rounds;
the ratio column is the median of the per-round ratios of successful holds/s to the
FOR UPDATE gate of the same round. Results also go to
``bench/results/gates-<timestamp>.json``.

Each run creates its own database (dropped afterwards) and its own Redis key namespace
(deleted afterwards). Exit status 1 on a double hold, with ``--smoke`` also when a gate
made no hold or hit an error, with ``--strict`` also when the 5x target is missed.

Examples::

    .venv/bin/python bench/gates.py                  # 200 clients, 5,000 seats, 3 x 4 x 11 s
    .venv/bin/python bench/gates.py --hot            # 200 clients fighting over 50 seats
    .venv/bin/python bench/gates.py --smoke          # CI: 1 s per gate, 10 clients
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import redis.asyncio as aioredis

if not __package__:  # run as a script (``python bench/gates.py``): make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import machine
from ticketmaster.adapters.postgres.pool import create_pool
from ticketmaster.adapters.redis.client import create_client
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.adapters.redis.seat_gate import RedisSeatGate
from ticketmaster.domain.gate import Outcome
from ticketmaster.domain.holds import BlockingHold

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
HOT_SEATS = 50
MAX_SEATS_PER_ATTEMPT = 4
HOLD_TTL_MS = 600_000  # the production default hold time
TARGET_RATIO = 5.0
BASELINE = "for-update"
GATE_ORDER = ("redis", "for-update", "cond-update", "optimistic")
GATE_LABELS = {
    "redis": "Redis Lua RedisSeatGate",
    "for-update": "PG SELECT ... FOR UPDATE",
    "cond-update": "PG conditional UPDATE",
    "optimistic": "PG optimistic versions",
}
RELEASE_TRIES = 3
T = TypeVar("T")


# --- the gate interface ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Held:
    hold_id: str
    user: str
    seat_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One hold attempt's answer: ``held`` is None for a conflict."""

    held: Held | None
    retries: int = 0
    gave_up: bool = False
    """Optimistic gate: the seats looked free but every retry lost a version race."""


class Gate(Protocol):
    name: str

    async def reset(self, event_id: str, seat_ids: Sequence[str]) -> None:
        """Start a fresh event whose seats are all AVAILABLE; later calls act on it."""

    async def try_hold(self, user: str, seat_ids: tuple[str, ...]) -> Attempt: ...

    async def release(self, hold: Held) -> None: ...

    async def server_cpu_seconds(self) -> float | None:
        """CPU seconds the database side has used so far (None when not measurable)."""


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(12)}"


class UnexpectedAnswer(Exception):
    """The gate answered something a bench attempt can never cause (a bug)."""


# --- a. Redis ------------------------------------------------------------------------------


class FreshEvents:
    """LiveStateSource for the gate's first load: a bench event has nothing sold or held."""

    async def live_state(self, event_id: str) -> tuple[list[str], list[BlockingHold]]:
        return [], []

    async def has_hold_history(self, event_id: str) -> bool:
        return False


class RedisGate:
    name = "redis"

    def __init__(self, client: aioredis.Redis, keys: RedisKeys) -> None:
        self._redis = client
        self._keys = keys
        self._gate = RedisSeatGate(client, keys, FreshEvents(), max_seats_per_user=1_000_000_000)
        self._event = ""

    async def reset(self, event_id: str, seat_ids: Sequence[str]) -> None:
        if self._event:
            await delete_keys(self._redis, f"{self._keys.event_tag(self._event)}:*")
        self._event = event_id
        await self._gate.ensure_loaded(event_id)  # outside the measurement

    async def try_hold(self, user: str, seat_ids: tuple[str, ...]) -> Attempt:
        hold_id = new_id("hold")
        reply = await self._gate.hold(
            self._event, hold_id, user, seat_ids, HOLD_TTL_MS, "bench", new_id("idem")
        )
        if reply.outcome == Outcome.OK:
            return Attempt(Held(hold_id, user, seat_ids))
        if reply.outcome == Outcome.UNAVAILABLE:
            return Attempt(None)
        raise UnexpectedAnswer(f"hold.lua answered {reply.outcome}")

    async def release(self, hold: Held) -> None:
        await self._gate.release(self._event, hold.hold_id, hold.user, hold.seat_ids)

    async def server_cpu_seconds(self) -> float | None:
        info = await self._redis.info("cpu")
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


async def delete_keys(client: aioredis.Redis, pattern: str) -> int:
    deleted = 0
    batch: list[str] = []
    async for key in client.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += await client.unlink(*batch)
            batch.clear()
    if batch:
        deleted += await client.unlink(*batch)
    return deleted


# --- b, c, d. PostgreSQL -------------------------------------------------------------------

SCHEMA = """
CREATE TABLE bench_seats (
    event_id text   NOT NULL,
    seat_id  text   NOT NULL,
    status   text   NOT NULL CHECK (status IN ('AVAILABLE', 'HELD')),
    hold_id  text,
    version  bigint NOT NULL,
    PRIMARY KEY (event_id, seat_id)
)
"""
# Rows are locked in seat order, as the FOR UPDATE gate does: a plain multi-row UPDATE
# locks them in scan order (heap order on a small table) and deadlocks with the holds.
RELEASE_SQL = """
WITH mine AS (
    SELECT seat_id FROM bench_seats
    WHERE event_id = $1 AND seat_id = ANY($2::text[]) AND hold_id = $3
    ORDER BY seat_id
    FOR UPDATE
)
UPDATE bench_seats AS s SET status = 'AVAILABLE', hold_id = NULL, version = s.version + 1
FROM mine WHERE s.event_id = $1 AND s.seat_id = mine.seat_id
"""
LOCK_SQL = """
SELECT seat_id, status FROM bench_seats
WHERE event_id = $1 AND seat_id = ANY($2::text[])
ORDER BY seat_id
FOR UPDATE
"""
HOLD_LOCKED_SQL = """
UPDATE bench_seats SET status = 'HELD', hold_id = $3, version = version + 1
WHERE event_id = $1 AND seat_id = ANY($2::text[])
"""
COND_UPDATE_SQL = """
UPDATE bench_seats SET status = 'HELD', hold_id = $1, version = version + 1
WHERE event_id = $2 AND seat_id = ANY($3::text[]) AND status = 'AVAILABLE'
"""
READ_VERSIONS_SQL = """
SELECT seat_id, status, version FROM bench_seats
WHERE event_id = $1 AND seat_id = ANY($2::text[])
"""
VERSIONED_UPDATE_SQL = """
UPDATE bench_seats SET status = 'HELD', hold_id = $3, version = version + 1
WHERE event_id = $1 AND seat_id = $2 AND version = $4
"""
RETRYABLE_PG = (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError)


class _Rollback(Exception):
    """Raised inside a transaction block to roll it back: the seats are taken."""


def rowcount(status: str) -> int:
    """The row count of an asyncpg command status such as ``UPDATE 3``."""
    return int(status.rpartition(" ")[2])


class PostgresGate:
    name = ""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._event = ""
        self._backends: list[int] = []

    async def reset(self, event_id: str, seat_ids: Sequence[str]) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute("TRUNCATE bench_seats")
            await conn.execute(
                "INSERT INTO bench_seats SELECT $1, s, 'AVAILABLE', NULL, 0 FROM unnest($2::text[]) AS s",
                event_id,
                list(seat_ids),
            )
            await conn.execute("VACUUM ANALYZE bench_seats")
            self._backends = [
                r["pid"]
                for r in await conn.fetch(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> $1",
                    conn.get_server_pid(),
                )
            ]
        self._event = event_id

    async def try_hold(self, user: str, seat_ids: tuple[str, ...]) -> Attempt:
        raise NotImplementedError

    async def release(self, hold: Held) -> None:
        for attempt in range(RELEASE_TRIES):
            try:
                await self._pool.execute(RELEASE_SQL, self._event, list(hold.seat_ids), hold.hold_id)
                return
            except RETRYABLE_PG:
                if attempt == RELEASE_TRIES - 1:
                    raise

    async def server_cpu_seconds(self) -> float | None:
        total = 0.0
        for pid in self._backends:
            try:
                total += machine.process_cpu_seconds(pid)
            except (OSError, ValueError, IndexError):
                continue  # a backend replaced by the pool, or /proc not readable
        return total if self._backends else None


class ForUpdateGate(PostgresGate):
    name = "for-update"

    async def try_hold(self, user: str, seat_ids: tuple[str, ...]) -> Attempt:
        hold_id = new_id("hold")
        async with self._pool.acquire() as conn:
            try:
                async with conn.transaction():
                    rows = await conn.fetch(LOCK_SQL, self._event, list(seat_ids))
                    if len(rows) != len(seat_ids) or any(r["status"] != "AVAILABLE" for r in rows):
                        raise _Rollback
                    await conn.execute(HOLD_LOCKED_SQL, self._event, list(seat_ids), hold_id)
            except _Rollback:
                return Attempt(None)
        return Attempt(Held(hold_id, user, seat_ids))


class ConditionalUpdateGate(PostgresGate):
    name = "cond-update"

    async def try_hold(self, user: str, seat_ids: tuple[str, ...]) -> Attempt:
        hold_id = new_id("hold")
        async with self._pool.acquire() as conn:
            try:
                async with conn.transaction():
                    status = await conn.execute(COND_UPDATE_SQL, hold_id, self._event, list(seat_ids))
                    if rowcount(status) != len(seat_ids):
                        raise _Rollback
            except _Rollback:
                return Attempt(None)
        return Attempt(Held(hold_id, user, seat_ids))


class OptimisticGate(PostgresGate):
    name = "optimistic"

    def __init__(self, pool: asyncpg.Pool, *, max_retries: int) -> None:
        super().__init__(pool)
        self._max_retries = max_retries

    async def try_hold(self, user: str, seat_ids: tuple[str, ...]) -> Attempt:
        retries = 0
        async with self._pool.acquire() as conn:
            while True:
                rows = await conn.fetch(READ_VERSIONS_SQL, self._event, list(seat_ids))
                if len(rows) != len(seat_ids) or any(r["status"] != "AVAILABLE" for r in rows):
                    return Attempt(None, retries)
                versions = {r["seat_id"]: r["version"] for r in rows}
                hold_id = new_id("hold")
                try:
                    async with conn.transaction():
                        for seat in sorted(seat_ids):
                            status = await conn.execute(
                                VERSIONED_UPDATE_SQL, self._event, seat, hold_id, versions[seat]
                            )
                            if rowcount(status) != 1:
                                raise _Rollback
                except _Rollback:
                    if retries >= self._max_retries:
                        return Attempt(None, retries, gave_up=True)
                    retries += 1
                    continue
                return Attempt(Held(hold_id, user, seat_ids), retries)


# --- the load ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Load:
    clients: int
    seats: int
    release_probability: float
    keep: int
    duration_s: float
    warmup_s: float
    seed: int


def seat_ids(count: int) -> list[str]:
    """Seat ids whose text order is their numeric order, so contiguous means adjacent."""
    width = max(5, len(str(count - 1)))
    return [f"s{i:0{width}d}" for i in range(count)]


@dataclass
class RunStats:
    gate: str
    round: int
    duration_s: float
    holds: int = 0
    conflicts: int = 0
    gave_up: int = 0
    retries: int = 0
    releases: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    release_errors: Counter[str] = field(default_factory=Counter)
    double_holds: int = 0
    latencies_s: list[float] = field(default_factory=list)
    client_cpu_s: float = 0.0
    server_cpu_s: float | None = None

    def per_s(self, count: int) -> float:
        return count / self.duration_s

    def latency_ms(self, q: float) -> float | None:
        if not self.latencies_s:
            return None
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def cpu_ms_per_hold(self) -> float | None:
        """Client plus database CPU per successful hold (PostgreSQL: backends only)."""
        if self.server_cpu_s is None or not self.holds:
            return None
        return 1000 * (self.client_cpu_s + self.server_cpu_s) / self.holds

    def to_json(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "round": self.round,
            "duration_s": self.duration_s,
            "holds": self.holds,
            "holds_per_s": self.per_s(self.holds),
            "conflicts": self.conflicts,
            "conflicts_per_s": self.per_s(self.conflicts),
            "gave_up": self.gave_up,
            "retries": self.retries,
            "retries_per_s": self.per_s(self.retries),
            "releases": self.releases,
            "errors": dict(self.errors),
            "release_errors": dict(self.release_errors),
            "double_holds": self.double_holds,
            "attempts_timed": len(self.latencies_s),
            "p50_ms": self.latency_ms(0.50),
            "p90_ms": self.latency_ms(0.90),
            "p99_ms": self.latency_ms(0.99),
            "max_ms": self.latency_ms(1.0),
            "client_cpu_pct": 100 * self.client_cpu_s / self.duration_s,
            "cpu_ms_per_hold": self.cpu_ms_per_hold(),
            "server_cpu_pct": None
            if self.server_cpu_s is None
            else 100 * self.server_cpu_s / self.duration_s,
        }


class HeldSeats:
    """What the clients believe is held right now; a seat granted twice is a gate bug.

    A hold is entered after its success returned and removed before its release is sent,
    so a correct gate can never trip it (the check may miss bugs, never invent them)."""

    def __init__(self) -> None:
        self._by_seat: dict[str, str] = {}

    def add(self, hold: Held) -> int:
        doubles = 0
        for seat in hold.seat_ids:
            if seat in self._by_seat:
                doubles += 1
            self._by_seat[seat] = hold.hold_id
        return doubles

    def remove(self, hold: Held) -> None:
        for seat in hold.seat_ids:
            if self._by_seat.get(seat) == hold.hold_id:
                del self._by_seat[seat]


async def _client(
    index: int,
    gate: Gate,
    load: Load,
    seats: list[str],
    window: tuple[float, float],
    stats: RunStats,
    held: HeldSeats,
) -> None:
    rng = random.Random(load.seed * 1_000_003 + index)
    user = f"usr_bench{index}"
    start, end = window
    cart: list[tuple[Held, int]] = []  # kept holds and how many more attempts they live
    clock = time.perf_counter
    while clock() < end:
        n = rng.randint(1, min(MAX_SEATS_PER_ATTEMPT, len(seats)))
        first = rng.randrange(len(seats) - n + 1)
        wanted = tuple(seats[first : first + n])
        t0 = clock()
        try:
            attempt = await gate.try_hold(user, wanted)
        except Exception as exc:  # deadlock, timeout, ...: counted, and the client goes on
            if start <= clock() < end:
                stats.errors[type(exc).__name__] += 1
            await asyncio.sleep(0.001)
            continue
        t1 = clock()
        counted = start <= t1 < end
        if counted:
            stats.latencies_s.append(t1 - t0)
            stats.retries += attempt.retries
            if attempt.held is not None:
                stats.holds += 1
            else:
                stats.conflicts += 1
                stats.gave_up += attempt.gave_up
        due = [h for h, left in cart if left <= 1]
        cart = [(h, left - 1) for h, left in cart if left > 1]
        if attempt.held is not None:
            doubles = held.add(attempt.held)
            if doubles:
                stats.double_holds += doubles
            if rng.random() < load.release_probability:
                due.append(attempt.held)
            else:
                cart.append((attempt.held, load.keep))
        for hold in due:
            held.remove(hold)
            try:
                await gate.release(hold)
            except Exception as exc:
                stats.release_errors[type(exc).__name__] += 1
            else:
                if start <= clock() < end:
                    stats.releases += 1


async def measure(gate: Gate, load: Load, round_no: int, event_id: str) -> RunStats:
    """One run of one gate: fresh event, warm-up, measured window, figures."""
    seats = seat_ids(load.seats)
    await gate.reset(event_id, seats)
    stats = RunStats(gate.name, round_no, load.duration_s)
    held = HeldSeats()
    begin = time.perf_counter()
    window = (begin + load.warmup_s, begin + load.warmup_s + load.duration_s)
    tasks = [
        asyncio.create_task(_client(i, gate, load, seats, window, stats, held)) for i in range(load.clients)
    ]
    try:
        await asyncio.sleep(max(0.0, window[0] - time.perf_counter()))
        cpu0 = machine.process_cpu_seconds(os.getpid())
        server0 = await gate.server_cpu_seconds()
        await asyncio.sleep(max(0.0, window[1] - time.perf_counter()))
        stats.client_cpu_s = machine.process_cpu_seconds(os.getpid()) - cpu0
        server1 = await gate.server_cpu_seconds()
        if server0 is not None and server1 is not None:
            stats.server_cpu_s = server1 - server0
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return stats


# --- summary -------------------------------------------------------------------------------


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(runs: Sequence[RunStats], gates: Sequence[str]) -> list[dict[str, Any]]:
    """Per gate: medians over rounds, error totals and the per-round ratio to FOR UPDATE."""
    by_key = {(r.gate, r.round): r for r in runs}
    rounds = sorted({r.round for r in runs})
    rows: list[dict[str, Any]] = []
    for name in gates:
        mine = [by_key[(name, n)] for n in rounds if (name, n) in by_key]
        ratios = [
            by_key[(name, n)].holds / by_key[(BASELINE, n)].holds
            for n in rounds
            if (name, n) in by_key and (BASELINE, n) in by_key and by_key[(BASELINE, n)].holds
        ]
        errors: Counter[str] = Counter()
        release_errors: Counter[str] = Counter()
        for r in mine:
            errors.update(r.errors)
            release_errors.update(r.release_errors)
        per_run = [r.to_json() for r in mine]
        rows.append(
            {
                "gate": name,
                "label": GATE_LABELS[name],
                "holds_per_s": _median([r["holds_per_s"] for r in per_run]),
                "holds_per_s_by_round": [r["holds_per_s"] for r in per_run],
                "conflicts_per_s": _median([r["conflicts_per_s"] for r in per_run]),
                "retries_per_s": _median([r["retries_per_s"] for r in per_run]),
                "gave_up_total": sum(r.gave_up for r in mine),
                "errors_total": sum(errors.values()),
                "errors": dict(errors),
                "release_errors": dict(release_errors),
                "double_holds": sum(r.double_holds for r in mine),
                "p50_ms": _median([r["p50_ms"] for r in per_run]),
                "p99_ms": _median([r["p99_ms"] for r in per_run]),
                "client_cpu_pct": _median([r["client_cpu_pct"] for r in per_run]),
                "server_cpu_pct": _median([r["server_cpu_pct"] for r in per_run]),
                "cpu_ms_per_hold": _median([r["cpu_ms_per_hold"] for r in per_run]),
                "ratio_to_for_update": _median(ratios),
                "ratio_to_for_update_by_round": ratios,
            }
        )
    return rows


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


COLUMNS = (
    ("gate", "<25"),
    ("holds/s", ">9"),
    ("conflicts/s", ">11"),
    ("retries/s", ">9"),
    ("errors", ">6"),
    ("p50 ms", ">8"),
    ("p99 ms", ">8"),
    ("client CPU", ">10"),
    ("DB CPU", ">7"),
    ("CPU ms/hold", ">11"),
    ("x FOR UPDATE", ">12"),
)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "  ".join(format(c, spec) for c, (_, spec) in zip(cells, COLUMNS, strict=True))

    out = [line([c for c, _ in COLUMNS]), line(["-" * len(c) if len(c) > 2 else "--" for c, _ in COLUMNS])]
    for r in rows:
        out.append(
            line(
                [
                    r["label"],
                    _fmt(r["holds_per_s"], ",.0f"),
                    _fmt(r["conflicts_per_s"], ",.0f"),
                    _fmt(r["retries_per_s"], ",.0f") if r["gate"] == "optimistic" else "-",
                    str(r["errors_total"]),
                    _fmt(r["p50_ms"], ".2f"),
                    _fmt(r["p99_ms"], ".2f"),
                    _fmt(r["client_cpu_pct"], ".0f") + " %",
                    _fmt(r["server_cpu_pct"], ".0f") + " %",
                    _fmt(r["cpu_ms_per_hold"], ".2f"),
                    _fmt(r["ratio_to_for_update"], ".2f") + "x",
                ]
            )
        )
    return "\n".join(out)


def format_run(r: RunStats, rounds: int) -> str:
    j = r.to_json()
    errors = ", ".join(f"{k} {v}" for k, v in sorted(r.errors.items())) or "0"
    extra = f", retries/s {j['retries_per_s']:,.0f}, gave up {r.gave_up}" if r.gate == "optimistic" else ""
    return (
        f"  round {r.round}/{rounds}  {r.gate:<11}  holds/s {j['holds_per_s']:>8,.0f}  "
        f"conflicts/s {j['conflicts_per_s']:>8,.0f}  p50 {_fmt(j['p50_ms'], '.2f')} ms  "
        f"p99 {_fmt(j['p99_ms'], '.2f')} ms  errors {errors}{extra}"
    )


# --- setup and main ------------------------------------------------------------------------


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


async def _server_facts(pool: asyncpg.Pool, client: aioredis.Redis) -> dict[str, str]:
    facts: dict[str, str] = {}
    async with pool.acquire() as conn:
        facts["postgres"] = str(await conn.fetchval("SHOW server_version"))
        for setting in ("synchronous_commit", "fsync", "max_connections"):
            facts[f"postgres {setting}"] = str(await conn.fetchval(f"SHOW {setting}"))
    info = await client.info("server")
    facts["redis"] = str(info.get("redis_version", "?"))
    try:
        config = await client.config_get("appendonly")
        facts["redis appendonly"] = str(config.get("appendonly", "?"))
    except Exception:  # CONFIG may be disabled on a managed server
        facts["redis appendonly"] = "unknown"
    return facts


async def run(args: argparse.Namespace, gates_wanted: Sequence[str], load: Load) -> dict[str, Any]:
    token = secrets.token_hex(4)
    database = f"bench_gates_{os.getpid()}_{token}"
    namespace = f"benchgates-{token}"
    admin = await asyncpg.connect(args.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    client = create_client(args.redis_url, max_connections=max(200, load.clients + 10))
    pool: asyncpg.Pool | None = None
    try:
        pool = await create_pool(
            _with_database(args.database_url, database), max_size=args.pool_size, min_size=args.pool_size
        )
        await pool.execute(SCHEMA)
        facts = await _server_facts(pool, client)
        by_name: dict[str, Gate] = {
            "redis": RedisGate(client, RedisKeys(namespace)),
            "for-update": ForUpdateGate(pool),
            "cond-update": ConditionalUpdateGate(pool),
            "optimistic": OptimisticGate(pool, max_retries=args.retries),
        }
        print("servers: " + ", ".join(f"{k} {v}" for k, v in facts.items()))
        print(f"scratch: database {database!r}, Redis namespace {namespace!r} (both removed at the end)")
        print()
        runs: list[RunStats] = []
        for round_no in range(1, args.repeat + 1):
            for name in gates_wanted:
                stats = await measure(by_name[name], load, round_no, f"bench-{round_no}-{name}")
                runs.append(stats)
                print(format_run(stats, args.repeat), flush=True)
        return {"servers": facts, "runs": runs}
    finally:
        if pool is not None:
            await pool.close()
        try:
            await delete_keys(client, f"{namespace}:*")
        finally:
            await client.aclose()
            admin = await asyncpg.connect(args.database_url)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            finally:
                await admin.close()


def run_event_loop(main: Callable[[], Awaitable[T]]) -> T:
    async def wrapper() -> T:
        return await main()

    try:
        import uvloop
    except ImportError:
        return asyncio.run(wrapper())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(wrapper())


def _probability(raw: str) -> float:
    value = float(raw)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _gate_list(raw: str) -> list[str]:
    names = [n.strip() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in GATE_ORDER]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(GATE_ORDER)}")
    return [n for n in GATE_ORDER if n in names]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench/gates.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--clients",
        type=_positive_int,
        default=200,
        help="concurrent closed-loop clients (default: %(default)s)",
    )
    parser.add_argument(
        "--seats", type=_positive_int, default=5_000, help="seats in the pool (default: %(default)s)"
    )
    parser.add_argument(
        "--hot", action="store_true", help=f"every client fights over {HOT_SEATS} seats (overrides --seats)"
    )
    parser.add_argument(
        "-p",
        "--release-probability",
        type=_probability,
        default=0.5,
        help="chance a successful hold is released at once, else it goes to the cart (default: %(default)s)",
    )
    parser.add_argument(
        "--keep",
        type=_positive_int,
        default=1,
        help="a kept hold is released after this many more attempts (default: %(default)s)",
    )
    parser.add_argument(
        "--duration",
        type=_positive_float,
        default=10.0,
        help="measured seconds per gate (default: %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=_non_negative_float,
        default=1.0,
        help="unmeasured seconds before each window (default: %(default)s)",
    )
    parser.add_argument(
        "--repeat", type=_positive_int, default=3, help="rounds of interleaved gates (default: %(default)s)"
    )
    parser.add_argument(
        "--pool-size",
        type=_positive_int,
        default=20,
        help="asyncpg pool size (PG gates) (default: %(default)s)",
    )
    parser.add_argument(
        "--retries",
        type=_non_negative_int,
        default=5,
        help="optimistic gate: retries before giving up (default: %(default)s)",
    )
    parser.add_argument(
        "--gates",
        type=_gate_list,
        default=",".join(GATE_ORDER),
        help="comma list of gates to run (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="seed of the clients' seat choices (default: %(default)s)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TICKETMASTER_DATABASE_URL") or DEFAULT_DATABASE_URL,
        help=f"PostgreSQL server for the scratch database (default: $TICKETMASTER_DATABASE_URL, else "
        f"{DEFAULT_DATABASE_URL})",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("TICKETMASTER_REDIS_URL") or DEFAULT_REDIS_URL,
        help=f"Redis server; a namespace of its own is used and deleted (default: $TICKETMASTER_REDIS_URL, "
        f"else {DEFAULT_REDIS_URL})",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS_DIR,
        help="where the JSON result goes (default: %(default)s)",
    )
    parser.add_argument("--no-save", action="store_true", help="do not write the JSON result")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="CI check: 1 s per gate, 10 clients, 1 round, no warm-up; fails on errors or on no holds",
    )
    parser.add_argument(
        "--strict", action="store_true", help=f"exit 1 when Redis < {TARGET_RATIO:g}x FOR UPDATE"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.smoke:
        args.duration, args.clients, args.repeat, args.warmup = 1.0, 10, 1, 0.0
    if args.hot:
        args.seats = HOT_SEATS
    load = Load(
        clients=args.clients,
        seats=args.seats,
        release_probability=args.release_probability,
        keep=args.keep,
        duration_s=args.duration,
        warmup_s=args.warmup,
        seed=args.seed,
    )
    gates_wanted: list[str] = args.gates
    started = datetime.now(UTC)
    print("Seat-gate benchmark: successful holds/s under identical contention, side by side")
    for line in machine.describe():
        print(line)
    print(
        f"load: {load.clients} clients, {load.seats:,} seats{' (hot)' if args.hot else ''}, "
        f"1-{MAX_SEATS_PER_ATTEMPT} contiguous seats per attempt, release at once "
        f"p={load.release_probability:g} else after {load.keep} more attempt(s); "
        f"{load.warmup_s:g} s warm-up + {load.duration_s:g} s measured per gate, "
        f"{args.repeat} interleaved round(s); PG pool {args.pool_size}, optimistic retries "
        f"{args.retries}; database {_redact(args.database_url)}, Redis {_redact(args.redis_url)}"
    )
    result = run_event_loop(lambda: run(args, gates_wanted, load))
    runs: list[RunStats] = result["runs"]
    rows = summarize(runs, gates_wanted)
    print()
    print(
        f"medians over {args.repeat} round(s); errors are totals; CPU in % of one core; "
        "CPU ms/hold = (client + DB) CPU per successful hold"
    )
    print(format_table(rows))
    print()
    by_gate = {r["gate"]: r for r in rows}
    verdict_ok = True
    if "redis" in by_gate and BASELINE in by_gate:
        ratio = by_gate["redis"]["ratio_to_for_update"]
        rounds = ", ".join(f"{x:.2f}" for x in by_gate["redis"]["ratio_to_for_update_by_round"])
        verdict_ok = ratio is not None and ratio >= TARGET_RATIO
        print(
            f"target Redis >= {TARGET_RATIO:g}x FOR UPDATE successful holds/s: "
            f"{_fmt(ratio, '.2f')}x -> {'met' if verdict_ok else 'NOT met'} (per round: {rounds or '-'})"
        )
    problems: list[str] = []
    for r in rows:
        if r["double_holds"]:
            problems.append(f"{r['gate']}: {r['double_holds']} seat(s) granted twice at once")
        if args.smoke and not r["holds_per_s"]:
            problems.append(f"{r['gate']}: no successful hold")
        if args.smoke and (r["errors_total"] or r["release_errors"]):
            problems.append(f"{r['gate']}: errors {r['errors']} release errors {r['release_errors']}")
        elif r["errors_total"] or r["release_errors"]:
            print(f"{r['gate']}: errors {r['errors']}, release errors {r['release_errors']}")
    for p in problems:
        print(f"PROBLEM {p}")
    if not args.no_save:
        args.results_dir.mkdir(parents=True, exist_ok=True)
        path = args.results_dir / f"gates-{started.strftime('%Y%m%d-%H%M%S')}.json"
        document = {
            "benchmark": "gates",
            "started_at": started.isoformat(),
            "command": [sys.executable, *sys.argv],
            "machine": machine.describe(),
            "nproc": machine.usable_cpus(),
            "cpu_model": machine.cpu_model(),
            "load": asdict(load),
            "options": {
                "hot": args.hot,
                "repeat": args.repeat,
                "pool_size": args.pool_size,
                "retries": args.retries,
                "gates": gates_wanted,
                "smoke": args.smoke,
            },
            "servers": result["servers"],
            "target_ratio": TARGET_RATIO,
            "summary": rows,
            "runs": [r.to_json() for r in runs],
        }
        path.write_text(json.dumps(document, indent=2) + "\n")
        print(f"results: {path}")
    if problems or (args.strict and not verdict_ok):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
