"""Redis killed with SIGKILL in the middle of a sale and restarted empty (I5, I8).

The test runs its own ``redis-server`` (no persistence) under an API server, two workers
and a payment sandbox, all real processes. Buyers hold seats and pay for most of them; in
the middle of that the Redis process is SIGKILLed. Then:

- the API answers a burst of 503 (``unavailable``/``overloaded``, with Retry-After), never
  a 2xx for a request sent while Redis was down, and ``/readyz`` says 503;
- Redis comes back EMPTY on the same port; without restarting the API the sale goes on:
  the event is rebuilt from PostgreSQL on first touch, holds succeed again;
- every purchase accepted (202) ends SUCCEEDED; no sold seat is available again (the seat
  map says SOLD, a hold on it is refused); every hold acknowledged (201) and not paid for,
  before or after the crash, still holds its seat; ``ticketmaster audit`` passes.

The recovery time (Redis answering again -> first 201 hold) is printed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis.asyncio as redis

from tests import factories
from tests.e2e.buyers import hold, new_buyer, new_buyers
from tests.fleet import (
    Fleet,
    Shoppers,
    answers_by_outcome,
    assert_sale_intact,
    cli,
    eventually,
    fleet_http,
    own_fleet,
)


@pytest.fixture
def fleet(server_env: dict[str, str], tmp_path: Path) -> Iterator[Fleet]:
    settings = {
        "TICKETMASTER_WORKER_LEASE_SECONDS": "3",
        # The buyers of this test are quick; the per-user rate limit is not under test.
        "TICKETMASTER_RATE_LIMIT_PER_SECOND": "100",
        "TICKETMASTER_RATE_LIMIT_BURST": "100",
    }
    with own_fleet(
        server_env, tmp_path, settings, own_redis=True, sandbox_latency="20:60", workers=2
    ) as running:
        yield running


http = fleet_http()


async def test_redis_sigkilled_mid_sale_and_restarted_empty(
    fleet: Fleet, http: httpx.AsyncClient, pool: asyncpg.Pool, run_slow: bool
) -> None:
    sections = 20 if run_slow else 10
    v = factories.venue(sections=sections, rows=10, seats=10)
    e = factories.event(v)
    await factories.load(pool, {"venues": [v], "events": [e]})
    event_id = e["id"]
    seats = [f"{s['id']}-{r['id']}-{n}" for s in v["sections"] for r in s["rows"] for n in range(1, 11)]
    shoppers = Shoppers(http, event_id, seats, await new_buyers(http, 120 if run_slow else 60))
    probe_buyer = await new_buyer(http)
    stop = asyncio.Event()
    load = asyncio.create_task(shoppers.run(stop, sessions=12 if run_slow else 6))
    api_pid = fleet.server.process.pid

    try:
        # In the middle of the run: holds and purchases are being acknowledged.
        async def under_way() -> bool | None:
            assert not load.done(), load
            return True if len(shoppers.acked) >= 15 and len(shoppers.accepted) >= 5 else None

        await eventually(under_way, within=30, what="the sale to get going")
        await asyncio.to_thread(fleet.redis.kill)
        killed_at = time.monotonic()

        async def not_ready() -> httpx.Response | None:
            response = await http.get("/readyz")
            return response if response.status_code == 503 else None

        ready = await eventually(not_ready, within=10, what="/readyz to fail")
        assert ready.json()["redis"].startswith("down"), ready.text
        assert ready.json()["postgres"] == "ok", ready.text
        assert ready.headers.get("Retry-After"), ready.headers

        def refused_while_down() -> list[int]:
            return [a.status for a in shoppers.journal.attempts if a.sent > killed_at and a.status == 503]

        async def burst() -> bool | None:
            return True if len(refused_while_down()) >= 10 else None

        await eventually(burst, within=15, what="a burst of 503s")
        restarted_at = await asyncio.to_thread(fleet.redis.start)
        assert fleet.redis.process is not None

        # Recovery: a probe asks for a fresh seat every 20 ms until it gets one.
        async def probe() -> float | None:
            seat = shoppers.seats.pop()
            response = await hold(http, probe_buyer, event_id, [seat])
            if response.status_code == 201:
                return time.monotonic()
            assert response.status_code == 503, response.text
            await asyncio.sleep(0.02)
            return None

        recovered_at = await eventually(probe, within=30, what="a hold to succeed again", every=0)
        print(f"Redis restart -> first 201 hold: {(recovered_at - restarted_at) * 1000:.0f} ms")

        async def sale_goes_on() -> bool | None:
            assert not load.done(), load
            fresh = [a for a in shoppers.journal.of("hold") if a.sent > restarted_at and a.status == 201]
            return True if len(fresh) >= 10 else None

        await eventually(sale_goes_on, within=30, what="the shoppers to hold seats again")
    finally:
        stop.set()
        await load
    assert fleet.server.process.poll() is None
    assert fleet.server.process.pid == api_pid, "the API was not restarted"

    async def ready_again() -> bool | None:
        # /readyz answers from one check a second: a check made while Redis was down may
        # stand for up to a second after the sale resumed.
        return True if (await http.get("/readyz")).status_code == 200 else None

    await eventually(ready_again, within=5, what="/readyz to say ready again")

    attempts = shoppers.journal.attempts
    print(f"requests by outcome: {dict(answers_by_outcome(shoppers.journal))}")
    down = [a for a in attempts if killed_at < a.sent and a.received < restarted_at]
    assert down, "no request was made while Redis was down"
    assert {a.status for a in down} == {503}, [a for a in down if a.status != 503][:5]

    # Every accepted purchase completes; Redis forgetting everything lost none of them.
    await assert_sale_intact(http, pool, shoppers, event_id)

    # The restarted Redis got its expiry notifications switched on again by the listeners.
    client = redis.Redis.from_url(fleet.redis.url, decode_responses=True)
    try:

        async def notifying() -> bool | None:
            flags = (await client.config_get("notify-keyspace-events"))["notify-keyspace-events"]
            return True if "K" in flags and ("A" in flags or "x" in flags) else None

        await eventually(notifying, within=10, what="expiry notifications on the new Redis")
    finally:
        await client.aclose()

    audit = await cli(fleet.env, "audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr
