"""Expiry against a purchase landing at the same moment (I1, I2, I3, I4), many times over.

Every round: a buyer holds two seats for one second, then POSTs the purchase at a moment
spread around the hold's ``expiresAt`` (from well before to just after), while a rival asks
for the same seats just after ``expiresAt``. The expiry machinery (listener and sweepers of
two real worker processes) races both. Whatever the interleaving, the outcome must be one
of two stories:

- 202: the purchase ends SUCCEEDED with a booking of exactly those seats, and the rival was
  refused (the seats never went to anyone else meanwhile);
- 409 ``hold_not_active``: no purchase exists for the hold, the hold ends EXPIRED, and its
  seats are free (or the rival's).

Across all rounds: no seat in two live bookings, every net charge in the sandbox ledger
belongs to exactly one booking and every booking to one charge (no charge without a ticket,
no refund-less loss), and ``ticketmaster audit`` passes.
"""

from __future__ import annotations

import asyncio
import collections
import random
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests import factories
from tests.conftest import ServerProcess
from tests.e2e.buyers import Buyer, hold, new_buyers, seat_statuses
from tests.fleet import CLIENT_LIMITS, LEAN_POOL, Sandbox, api, cli, eventually, worker

LANES = 4  # rounds run in this many concurrent lanes (16 with --run-slow), in turn within a lane
EARLIEST_S, LATEST_S = -0.25, 0.05  # purchase POST time relative to expiresAt
RIVAL_AFTER_S = (0.0, 0.04)  # the rival's hold, relative to expiresAt


@dataclass
class Round:
    buyer: Buyer
    rival: Buyer
    seats: list[str]
    offset: float
    hold_id: str = ""
    expires_at: float = 0.0
    purchase: httpx.Response | None = None
    sent: float = 0.0
    rival_hold: httpx.Response | None = None


@pytest.fixture
def stack(
    server_env: dict[str, str], tmp_path: Path
) -> Iterator[tuple[ServerProcess, Sandbox, dict[str, str]]]:
    """An API server with one-second holds, a fast sandbox and two workers paying through it."""
    sandbox = Sandbox(tmp_path, latency="5:20")
    env = {
        **server_env,
        **LEAN_POOL,
        "TICKETMASTER_HOLD_TTL_SECONDS": "1",
        "TICKETMASTER_SANDBOX_URL": sandbox.url,
        "TICKETMASTER_POSTGRES_SWEEP_INTERVAL_SECONDS": "0.5",
        "TICKETMASTER_RECONCILE_INTERVAL_SECONDS": "2",
    }
    server = api(env)
    workers = [worker(env) for _ in range(2)]
    try:
        sandbox.wait_ready()
        server.wait_ready()
        yield server, sandbox, env
    finally:
        for proc in [server, *workers]:
            proc.stop()
        sandbox.stop()


@pytest.fixture
async def http(stack: tuple[ServerProcess, Sandbox, dict[str, str]]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack[0].url, timeout=30, limits=CLIENT_LIMITS) as client:
        yield client


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def _at(moment: float) -> None:
    """Until the wall clock reads ``moment`` (scheduling the race, not waiting for a result)."""
    await asyncio.sleep(max(0.0, moment - time.time()))


async def _play(http: httpx.AsyncClient, event_id: str, r: Round) -> None:
    held = await hold(http, r.buyer, event_id, r.seats)
    assert held.status_code == 201, held.text
    r.hold_id, r.expires_at = held.json()["holdId"], _epoch(held.json()["expiresAt"])

    async def purchase() -> httpx.Response:
        await _at(r.expires_at + r.offset)
        r.sent = time.time()
        return await http.post(
            f"/holds/{r.hold_id}/purchase",
            json={"paymentToken": "tok_visa"},
            headers={**r.buyer.auth, "Idempotency-Key": secrets.token_hex(8)},
        )

    async def rival() -> httpx.Response:
        await _at(r.expires_at + random.uniform(*RIVAL_AFTER_S))
        return await hold(http, r.rival, event_id, r.seats)

    r.purchase, r.rival_hold = await asyncio.gather(purchase(), rival())


async def test_expiry_racing_a_purchase_never_double_sells_or_loses_money(
    http: httpx.AsyncClient,
    stack: tuple[ServerProcess, Sandbox, dict[str, str]],
    pool: asyncpg.Pool,
    run_slow: bool,
) -> None:
    _, sandbox, env = stack
    rounds_count, lanes = (400, 16) if run_slow else (40, LANES)
    v = factories.venue(sections=-(-rounds_count * 2 // 100), rows=10, seats=10)
    e = factories.event(v)
    await factories.load(pool, {"venues": [v], "events": [e]})
    event_id = e["id"]
    seat_ids = [
        f"{s['id']}-{row['id']}-{n}" for s in v["sections"] for row in s["rows"] for n in range(1, 11)
    ]
    people = await new_buyers(http, 2 * rounds_count)
    rng = random.Random(5)
    rounds = [
        Round(
            people[2 * i], people[2 * i + 1], seat_ids[2 * i : 2 * i + 2], rng.uniform(EARLIEST_S, LATEST_S)
        )
        for i in range(rounds_count)
    ]

    async def lane(mine: list[Round]) -> None:
        for r in mine:
            await _play(http, event_id, r)

    async with asyncio.TaskGroup() as group:  # one failure cancels the rest
        for i in range(lanes):
            group.create_task(lane(rounds[i::lanes]))

    outcomes: collections.Counter[str] = collections.Counter()
    accepted: dict[str, Round] = {}
    for r in rounds:
        assert r.purchase is not None
        assert r.rival_hold is not None
        status, body = r.purchase.status_code, r.purchase.json()
        rival_status = r.rival_hold.status_code
        if status == 202:
            outcomes["paid"] += 1
            accepted[body["purchaseId"]] = r
            # The seats never went to anyone else while the purchase was under way.
            assert (rival_status, r.rival_hold.json().get("error")) == (409, "seats_unavailable"), (
                r.offset,
                r.rival_hold.text,
            )
        else:
            outcomes["expired"] += 1
            assert (status, body["error"]) == (409, "hold_not_active"), (r.offset, r.purchase.text)
            assert rival_status in (201, 409), r.rival_hold.text
            outcomes["expired, rival got the seats"] += rival_status == 201
    paid_offsets = [r.sent - r.expires_at for r in accepted.values()]
    late_offsets = [r.sent - r.expires_at for r in rounds if r not in accepted.values()]
    print(
        f"expiry/purchase race, {rounds_count} rounds: {dict(outcomes)}; latest accepted purchase sent"
        f" {max(paid_offsets, default=0) * 1000:+.0f} ms from expiresAt, earliest refused"
        f" {min(late_offsets, default=0) * 1000:+.0f} ms"
    )
    # The race was really run: purchases landed on both sides of the expiry.
    assert outcomes["paid"] >= 1, outcomes
    assert outcomes["expired"] >= 1, outcomes

    async def all_settled() -> list[asyncpg.Record] | None:
        rows = await pool.fetch(
            "SELECT id, hold_id, status, failure_reason FROM purchases WHERE id = ANY($1::text[])",
            list(accepted),
        )
        return rows if all(row["status"] != "PENDING" for row in rows) else None

    settled = await eventually(all_settled, within=60, what="every accepted purchase to settle")
    assert {row["id"] for row in settled} == set(accepted)
    for row in settled:
        assert (row["status"], row["failure_reason"]) == ("SUCCEEDED", None), dict(row)

    bookings = {
        row["purchase_id"]: sorted(row["seats"])
        for row in await pool.fetch(
            """
            SELECT b.purchase_id, array_agg(bs.seat_id) AS seats
            FROM bookings b JOIN booking_seats bs ON bs.booking_id = b.id AND bs.live
            WHERE b.event_id = $1 GROUP BY b.purchase_id
            """,
            event_id,
        )
    }
    assert bookings == {pid: sorted(r.seats) for pid, r in accepted.items()}
    doubles = await pool.fetch(
        "SELECT seat_id FROM booking_seats WHERE event_id = $1 AND live GROUP BY seat_id HAVING count(*) > 1",
        event_id,
    )
    assert doubles == [], doubles

    refused = [r for r in rounds if r.purchase is not None and r.purchase.status_code == 409]
    refused_holds = [r.hold_id for r in refused]
    assert (
        await pool.fetchval("SELECT count(*) FROM purchases WHERE hold_id = ANY($1::text[])", refused_holds)
        == 0
    )

    async def expired() -> bool | None:
        statuses = await pool.fetch("SELECT status FROM holds WHERE id = ANY($1::text[])", refused_holds)
        return True if {s["status"] for s in statuses} <= {"EXPIRED"} else None

    await eventually(expired, within=15, what="every refused round's hold to be EXPIRED")
    shown = await seat_statuses(http, event_id)
    for r in refused:
        rival_holds = r.rival_hold is not None and r.rival_hold.status_code == 201
        assert {shown[s] for s in r.seats} <= {"AVAILABLE", "HELD" if rival_holds else "AVAILABLE"}, r
    for r in accepted.values():
        assert [shown[s] for s in r.seats] == ["SOLD", "SOLD"], r

    # Money: every net charge is one booking and every booking one net charge; nothing refunded.
    ledger: list[dict[str, Any]] = await sandbox.ledger()
    net = collections.Counter(
        p["metadata"]["purchaseId"] for p in ledger if p["status"] == "succeeded" and not p["refunded"]
    )
    assert net == dict.fromkeys(bookings, 1), (net, bookings)
    assert [p for p in ledger if p["refunded"]] == []

    audit = await cli(env, "audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr
