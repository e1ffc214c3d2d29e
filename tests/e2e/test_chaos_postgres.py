"""PostgreSQL stopped and started again in the middle of a sale (I5, I8).

The test owns a PostgreSQL server (pgserver's binaries in a temporary directory, listening on
a unix socket, as the embedded engine runs it) and a redis-server, migrates the database,
imports a catalog, and runs an API server, a worker and a payment sandbox against them.
Buyers hold seats and pay for most of them; in the middle of that PostgreSQL is stopped
(``pg_ctl -m immediate``: every backend gone at once, as in a crash). Then:

- nothing that is not durable gets a 2xx: every 201 hold and 202 purchase is in PostgreSQL
  afterwards, and while it was down every hold and purchase got a 503 with Retry-After;
  the holds refused then are not held in Redis afterwards (no half-written hold blocks a
  seat), and ``/readyz`` said 503;
- PostgreSQL starts again and, without restarting the API or the worker, holds succeed
  again, every accepted purchase ends SUCCEEDED, sold seats show SOLD and acknowledged
  holds HELD, and ``ticketmaster audit`` passes.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis.asyncio as redis

from tests import factories
from tests.conftest import ServerProcess, single_node
from tests.e2e.buyers import hold, new_buyer, new_buyers
from tests.fleet import (
    CLIENT_LIMITS,
    LEAN_POOL,
    PostgresServer,
    RedisServer,
    Sandbox,
    Shoppers,
    all_succeeded,
    answers_by_outcome,
    api,
    cli,
    eventually,
    seat_map_showing_sales,
    worker,
)
from ticketmaster.adapters.postgres.migrate import upgrade_to_head
from ticketmaster.adapters.redis.keys import RedisKeys


@dataclass
class Stack:
    postgres: PostgresServer
    redis: RedisServer
    sandbox: Sandbox
    server: ServerProcess
    worker: ServerProcess
    env: dict[str, str]
    event_id: str
    seats: list[str]


@pytest.fixture
def stack(server_env: dict[str, str], tmp_path: Path, run_slow: bool) -> Iterator[Stack]:
    # Not under pytest's temporary root: a pytest session starting elsewhere resets that to
    # mode 0700, and PostgreSQL runs as another system user when we are root.
    pg_dir = Path(tempfile.mkdtemp(prefix="tm-chaos-pg-"))
    pg_dir.chmod(0o755)
    postgres = PostgresServer(pg_dir)
    own_redis = RedisServer(tmp_path / "redis")
    sandbox: Sandbox | None = None
    procs: list[ServerProcess] = []
    try:
        postgres.start()
        own_redis.start()
        sandbox = Sandbox(tmp_path / "sandbox", latency="20:60")
        upgrade_to_head(postgres.url)
        v = factories.venue(sections=20 if run_slow else 10, rows=10, seats=10)
        e = factories.event(v)

        async def load_catalog() -> None:
            pool = await asyncpg.create_pool(postgres.url, min_size=1, max_size=2)
            assert pool is not None
            try:
                await factories.load(pool, {"venues": [v], "events": [e]})
            finally:
                await pool.close()

        asyncio.run(load_catalog())
        env = {
            **server_env,
            **LEAN_POOL,
            "TICKETMASTER_DATABASE_URL": postgres.url,
            **single_node(own_redis.url),
            "TICKETMASTER_SANDBOX_URL": sandbox.url,
            # A claim that died with the database is taken over soon after it is back.
            "TICKETMASTER_WORKER_LEASE_SECONDS": "3",
            "TICKETMASTER_RATE_LIMIT_PER_SECOND": "100",
            "TICKETMASTER_RATE_LIMIT_BURST": "100",
        }
        procs = [api(env), worker(env)]
        sandbox.wait_ready()
        procs[0].wait_ready()
        seats = [f"{s['id']}-{r['id']}-{n}" for s in v["sections"] for r in s["rows"] for n in range(1, 11)]
        yield Stack(postgres, own_redis, sandbox, procs[0], procs[1], env, e["id"], seats)
    finally:
        for proc in procs:
            proc.stop()
        if sandbox is not None:
            sandbox.stop()
        own_redis.stop()
        try:
            postgres.close()
        finally:
            shutil.rmtree(pg_dir, ignore_errors=True)


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.server.url, timeout=30, limits=CLIENT_LIMITS) as client:
        yield client


async def test_postgres_stopped_mid_sale_and_started_again(
    stack: Stack, http: httpx.AsyncClient, namespace: str, run_slow: bool
) -> None:
    event_id = stack.event_id
    shoppers = Shoppers(http, event_id, list(stack.seats), await new_buyers(http, 120 if run_slow else 60))
    probe_buyer = await new_buyer(http)
    stop = asyncio.Event()
    load = asyncio.create_task(shoppers.run(stop, sessions=12 if run_slow else 6))
    pids = (stack.server.process.pid, stack.worker.process.pid)

    try:

        async def under_way() -> bool | None:
            assert not load.done(), load
            return True if len(shoppers.acked) >= 15 and len(shoppers.accepted) >= 5 else None

        await eventually(under_way, within=30, what="the sale to get going")
        await asyncio.to_thread(stack.postgres.stop, "immediate")
        stopped_at = time.monotonic()

        async def not_ready() -> httpx.Response | None:
            response = await http.get("/readyz")
            return response if response.status_code == 503 else None

        ready = await eventually(not_ready, within=10, what="/readyz to fail")
        assert ready.json()["postgres"].startswith("down"), ready.text
        assert ready.json()["redis"] == "ok", ready.text

        async def burst() -> bool | None:
            refused = [a for a in shoppers.journal.attempts if a.sent > stopped_at and a.status == 503]
            return True if len(refused) >= 10 else None

        await eventually(burst, within=15, what="a burst of 503s")
        restarting_at = time.monotonic()
        await asyncio.to_thread(stack.postgres.restart)
        up_at = time.monotonic()

        async def probe() -> float | None:
            response = await hold(http, probe_buyer, event_id, [shoppers.seats.pop()])
            if response.status_code == 201:
                return time.monotonic()
            assert response.status_code == 503, response.text
            await asyncio.sleep(0.02)
            return None

        recovered_at = await eventually(probe, within=30, what="a hold to succeed again", every=0)
        print(f"PostgreSQL back -> first 201 hold: {(recovered_at - up_at) * 1000:.0f} ms")

        async def sale_goes_on() -> bool | None:
            assert not load.done(), load
            fresh = [a for a in shoppers.journal.of("hold") if a.sent > up_at and a.status == 201]
            return True if len(fresh) >= 10 else None

        await eventually(sale_goes_on, within=30, what="the shoppers to hold seats again")
    finally:
        stop.set()
        await load
    assert (stack.server.process.poll(), stack.worker.process.poll()) == (None, None)
    assert (stack.server.process.pid, stack.worker.process.pid) == pids, "nothing was restarted"

    async def ready() -> bool | None:  # /readyz's answer may be up to a second old
        return True if (await http.get("/readyz")).status_code == 200 else None

    await eventually(ready, within=10, what="/readyz to say ready")

    attempts = shoppers.journal.attempts
    print(f"requests by outcome: {dict(answers_by_outcome(shoppers.journal))}")
    down = [a for a in attempts if stopped_at < a.sent and a.received < restarting_at]
    assert down, "no request was made while PostgreSQL was down"
    assert {a.status for a in down} == {503}, [a for a in down if a.status != 503][:5]

    pool = await asyncpg.create_pool(stack.postgres.url, min_size=1, max_size=2)
    assert pool is not None
    client = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    try:
        # Acknowledged means durable.
        known_holds = {
            r["id"]: r["status"]
            for r in await pool.fetch(
                "SELECT id, status FROM holds WHERE id = ANY($1::text[])", list(shoppers.acked)
            )
        }
        assert set(known_holds) == set(shoppers.acked), "a 201 hold is not in PostgreSQL"

        await all_succeeded(pool, list(shoppers.accepted))

        # Holds refused while PostgreSQL was down hold nothing anywhere.
        refused_seats = [a.seats[0] for a in down if a.kind == "hold"]
        assert refused_seats
        stray = await pool.fetchval(
            "SELECT count(*) FROM hold_seats WHERE event_id = $1 AND seat_id = ANY($2::text[])",
            event_id,
            refused_seats,
        )
        assert stray == 0
        in_redis = await client.hmget(RedisKeys(namespace).seats(event_id), refused_seats)
        assert in_redis == [None] * len(refused_seats), dict(zip(refused_seats, in_redis, strict=True))

        sold = [
            r["seat_id"]
            for r in await pool.fetch(
                "SELECT seat_id FROM booking_seats WHERE event_id = $1 AND live", event_id
            )
        ]
        paid_holds = set(shoppers.accepted.values())
        assert len(sold) == len(paid_holds)
        held = [
            r["seat_id"]
            for r in await pool.fetch(
                """
                SELECT s.seat_id FROM hold_seats s JOIN holds h ON h.id = s.hold_id
                WHERE h.id = ANY($1::text[]) AND h.status = 'ACTIVE'
                """,
                [h for h in shoppers.acked if h not in paid_holds],
            )
        ]
        assert len(held) == len(shoppers.acked) - len(paid_holds)
    finally:
        await client.aclose()
        await pool.close()
    shown = await seat_map_showing_sales(http, event_id, sold)
    assert {shown[s] for s in sold} == {"SOLD"}
    assert {shown[s] for s in held} == {"HELD"}
    assert {shown[s] for s in refused_seats} == {"AVAILABLE"}

    audit = await cli(stack.env, "audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr
