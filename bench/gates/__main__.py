"""``python -m bench.gates``: scratch database and namespace, the rounds, the verdict
(the benchmark itself is described in bench/gates/__init__.py)."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import redis.asyncio as aioredis

import bench.gates
from bench import machine
from bench.gates.gate import Gate
from bench.gates.load import MAX_SEATS_PER_ATTEMPT, Load, RunStats, measure
from bench.gates.postgres_gates import SCHEMA, ConditionalUpdateGate, ForUpdateGate, OptimisticGate
from bench.gates.redis_gate import RedisGate, delete_keys
from bench.gates.summary import BASELINE, GATE_ORDER, fmt, format_run, format_table, summarize
from bench.loadgen import run_event_loop
from bench.sut import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, redact, with_database
from ticketmaster.adapters.postgres.pool import create_pool
from ticketmaster.adapters.redis.client import create_client
from ticketmaster.adapters.redis.keys import RedisKeys

RESULTS_DIR = Path(__file__).resolve().parent.parent / "results"
HOT_SEATS = 50
TARGET_RATIO = 5.0
N = TypeVar("N", int, float)


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
            with_database(args.database_url, database), max_size=args.pool_size, min_size=args.pool_size
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


def _checked(convert: Callable[[str], N], valid: Callable[[N], bool], message: str) -> Callable[[str], N]:
    """An argparse type: ``convert``, then refuse values that are not ``valid``."""

    def parse(raw: str) -> N:
        value = convert(raw)
        if not valid(value):
            raise argparse.ArgumentTypeError(message)
        return value

    return parse


_probability = _checked(float, lambda v: 0.0 <= v <= 1.0, "must be between 0 and 1")
_positive_int = _checked(int, lambda v: v >= 1, "must be at least 1")
_non_negative_int = _checked(int, lambda v: v >= 0, "must be 0 or more")
_non_negative_float = _checked(float, lambda v: v >= 0, "must be 0 or more")
_positive_float = _checked(float, lambda v: v > 0, "must be positive")


def _gate_list(raw: str) -> list[str]:
    names = [n.strip() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in GATE_ORDER]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(GATE_ORDER)}")
    return [n for n in GATE_ORDER if n in names]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.gates",
        description=bench.gates.__doc__,
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
        f"{args.retries}; database {redact(args.database_url)}, Redis {redact(args.redis_url)}"
    )
    result = run_event_loop(run(args, gates_wanted, load))
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
            f"{fmt(ratio, '.2f')}x -> {'met' if verdict_ok else 'NOT met'} (per round: {rounds or '-'})"
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
