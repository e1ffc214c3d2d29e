"""Three ``ticketmaster worker`` processes under one sale, one of them SIGKILLed mid-load.

One API server, a payment sandbox with latency, and three real worker processes (each
runs every job: purchases, the expiry listener and sweepers, the admission ticker, the
periodic reconcile) share two events: buyers hold seats of one over HTTP, two-second holds,
and pay for most of them; a crowd queues in the other's waiting room, is admitted by the
tickers of all three workers, and holds and pays in turn. While purchases are in flight,
the worker holding a purchase's lease is SIGKILLed. Then:

- every accepted purchase ends SUCCEEDED (the killed worker's ones taken over once their
  lease lapsed), none charged twice and none booked twice (sandbox ledger and bookings);
- no expiry is lost: every hold not purchased ends EXPIRED, and every seat not sold shows
  AVAILABLE again — holds made after the kill included;
- the waiting room kept its cap and rate although three tickers stepped it: at any
  admission instant at most ``maxAdmitted`` admissions are younger than the window, and no
  span of time admitted more than the rate allows (admission instants are the server's,
  read from each admission token's expiry);
- ``ticketmaster audit`` exits 0.

The default run is short; ``--run-slow`` runs a larger sale.
"""

from __future__ import annotations

import asyncio
import collections
import random
import secrets
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests import factories
from tests.conftest import ServerProcess
from tests.e2e.buyers import Buyer, new_buyers, seat_statuses
from tests.e2e.purchase_helpers import audit
from tests.fleet import CLIENT_LIMITS, LEAN_POOL, Sandbox, Shoppers, api, cli, eventually, worker
from ticketmaster.adapters.redis.waiting_room import MAX_STEP_CREDIT_MS

LEASE_SECONDS = 2
HOLD_TTL_SECONDS = 2
ROW_SEATS = 40


@dataclass(frozen=True, slots=True)
class Sale:
    seats: int  # of the event without a waiting room (rows of ROW_SEATS)
    sessions: int
    buyers: int
    waiters: int  # of the waiting room
    rate_per_minute: int
    max_admitted: int
    window_seconds: int


SHORT = Sale(
    seats=160, sessions=8, buyers=30, waiters=24, rate_per_minute=360, max_admitted=6, window_seconds=2
)
LONG = Sale(
    seats=600, sessions=16, buyers=110, waiters=90, rate_per_minute=600, max_admitted=10, window_seconds=2
)


@dataclass
class Fleet:
    server: ServerProcess
    workers: list[ServerProcess]
    sandbox: Sandbox
    env: dict[str, str]


@pytest.fixture
def fleet(server_env: dict[str, str], tmp_path: Path) -> Iterator[Fleet]:
    sandbox = Sandbox(tmp_path, latency="200:400")
    env = {
        **server_env,
        **LEAN_POOL,
        "TICKETMASTER_SANDBOX_URL": sandbox.url,
        "TICKETMASTER_HOLD_TTL_SECONDS": str(HOLD_TTL_SECONDS),
        "TICKETMASTER_WORKER_LEASE_SECONDS": str(LEASE_SECONDS),
        "TICKETMASTER_PAYMENT_TIMEOUT_SECONDS": "2",
        "TICKETMASTER_RECONCILE_INTERVAL_SECONDS": "1",
        "TICKETMASTER_POSTGRES_SWEEP_INTERVAL_SECONDS": "0.5",
    }
    server = api(env)
    workers = [worker(env) for _ in range(3)]
    try:
        sandbox.wait_ready()
        server.wait_ready()
        yield Fleet(server, workers, sandbox, env)
    finally:
        for proc in [server, *workers]:
            if proc.process.poll() is None:
                proc.process.terminate()
        for proc in [server, *workers]:
            proc.stop()
        sandbox.stop()


@dataclass
class Crowd:
    """Waiters of the waiting-room event: each joins, polls until admitted (joining again if
    its admission lapsed before a poll saw it), then holds one seat with the admission token
    and pays for about half of those holds."""

    http: httpx.AsyncClient
    event_id: str
    seats: list[str]
    buyers: list[Buyer]
    admitted_at_ms: dict[str, int] = field(default_factory=dict)  # user -> the server's admission instant
    lapsed: int = 0  # admissions that lapsed unseen (their instants are not known here)
    holds: dict[str, str] = field(default_factory=dict)  # hold id -> its seat
    accepted: dict[str, str] = field(default_factory=dict)  # purchase id -> hold id
    _rng: random.Random = field(default_factory=lambda: random.Random(11))

    async def run(self) -> None:
        await asyncio.gather(*(self._wait(b) for b in self.buyers))

    async def _wait(self, buyer: Buyer) -> None:
        while True:
            joined = await self.http.post(f"/events/{self.event_id}/queue", headers=buyer.auth)
            assert joined.status_code == 201, joined.text
            headers = {**buyer.auth, "X-Queue-Token": joined.json()["queueToken"]}
            body = await self._poll(headers)
            if body["admitted"]:
                break
            self.lapsed += 1
        at = datetime.fromisoformat(body["admittedAt"].replace("Z", "+00:00"))
        self.admitted_at_ms[buyer.user_id] = round(at.timestamp() * 1000)
        await self._shop(buyer, body["admissionToken"])

    async def _poll(self, headers: dict[str, str]) -> dict[str, Any]:
        """Poll the status until admitted or told the admission lapsed; the last answer."""
        while True:
            status = await self.http.get(f"/events/{self.event_id}/queue/status", headers=headers)
            assert status.status_code == 200, status.text
            body: dict[str, Any] = status.json()
            if body["admitted"] or body.get("admissionExpired"):
                return body
            await asyncio.sleep(0.3)

    async def _shop(self, buyer: Buyer, admission_token: str) -> None:
        seat = self.seats.pop()
        held = await self.http.post(
            f"/events/{self.event_id}/holds",
            json={"seatIds": [seat]},
            headers={
                **buyer.auth,
                "Idempotency-Key": secrets.token_hex(8),
                "X-Admission-Token": admission_token,
            },
        )
        if held.status_code != 201:
            return  # e.g. the admission lapsed on a slow machine: nothing was held
        hold_id = held.json()["holdId"]
        self.holds[hold_id] = seat
        if self._rng.random() < 0.5:
            paid = await self.http.post(
                f"/holds/{hold_id}/purchase",
                json={"paymentToken": "tok_visa"},
                headers={**buyer.auth, "Idempotency-Key": f"pay-{hold_id}"},
            )
            # 409: the two-second hold lapsed first on a slow machine; it expires like the rest.
            assert paid.status_code in (202, 409), paid.text
            if paid.status_code == 202:
                self.accepted[paid.json()["purchaseId"]] = hold_id


def check_admissions(admitted_at_ms: list[int], sale: Sale) -> int:
    """Cap and rate over the server's admission instants; returns the most admissions that
    were live at once.

    Cap: at every admission instant, the admissions younger than the window (an admission
    lapses when ``at + window <= now``, as queue_admit.lua counts it) are at most the cap.
    Rate: a step credits at most rate x (time since the previous step of any ticker, at most
    MAX_STEP_CREDIT_MS) plus a carry below one buyer, so admissions at instants in
    ``[t_i, t_j]`` number at most rate x (t_j - t_i + MAX_STEP_CREDIT_MS) + 1.
    """
    times = sorted(admitted_at_ms)
    window = sale.window_seconds * 1000
    per_ms = sale.rate_per_minute / 60_000
    most_live = 0
    for t in sorted(set(times)):
        live = bisect_right(times, t) - bisect_left(times, t - window + 1)
        assert live <= sale.max_admitted, f"{live} admissions live at {t}, cap {sale.max_admitted}"
        most_live = max(most_live, live)
    for i, start in enumerate(times):
        for end in times[i:]:
            count = bisect_right(times, end) - bisect_left(times, start)
            allowed = per_ms * (end - start + MAX_STEP_CREDIT_MS) + 1
            assert count <= allowed, f"{count} admitted in [{start}, {end}] ms, the rate allows {allowed:.1f}"
    return most_live


async def _kill_a_paying_worker(fleet: Fleet, pool: asyncpg.Pool) -> tuple[str, list[str]]:
    """SIGKILL a worker that has just claimed purchases; its lease owner id and the purchases
    it had in flight (worker ids are ``host:pid:…``)."""
    by_pid = {w.process.pid: w for w in fleet.workers}

    async def busiest() -> tuple[ServerProcess, str] | None:
        rows = await pool.fetch(
            # Claimed within the last 100 ms: with the sandbox's 200-400 ms per charge, its
            # payment is surely still in flight when the kill lands a moment later.
            "SELECT lease_owner, count(*) AS n FROM purchases WHERE status = 'PENDING'"
            " AND lease_owner IS NOT NULL AND lease_expires_at > now() + make_interval(secs => $1)"
            " GROUP BY 1 ORDER BY 2 DESC",
            LEASE_SECONDS - 0.1,
        )
        for r in rows:
            pid = int(r["lease_owner"].split(":")[1])
            if pid in by_pid:
                return by_pid[pid], r["lease_owner"]
        return None

    victim, owner = await eventually(busiest, within=60, every=0.01, what="a worker to hold a purchase lease")
    victim.process.kill()
    victim.process.wait()
    rows = await pool.fetch("SELECT id FROM purchases WHERE status = 'PENDING' AND lease_owner = $1", owner)
    return owner, [r["id"] for r in rows]


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_three_workers_share_a_sale_and_survive_losing_one(
    fleet: Fleet, pool: asyncpg.Pool, run_slow: bool
) -> None:
    sale = LONG if run_slow else SHORT
    venue = factories.venue(sections=1, rows=sale.seats // ROW_SEATS, seats=ROW_SEATS)
    shop_event = factories.event(venue)
    room_venue = factories.venue(sections=1, rows=1, seats=sale.waiters)
    room_event = factories.event(
        room_venue,
        waiting_room=True,
        admissionRatePerMinute=sale.rate_per_minute,
        maxAdmitted=sale.max_admitted,
        admissionWindowSeconds=sale.window_seconds,
    )
    await factories.load(pool, {"venues": [venue, room_venue], "events": [shop_event, room_event]})
    seats = [
        f"sec0-{chr(ord('A') + r)}-{n}"
        for r in range(sale.seats // ROW_SEATS)
        for n in range(1, ROW_SEATS + 1)
    ]
    room_seats = [f"sec0-A-{n}" for n in range(1, sale.waiters + 1)]

    async with httpx.AsyncClient(base_url=fleet.server.url, timeout=30, limits=CLIENT_LIMITS) as http:
        shoppers = Shoppers(
            http, shop_event["id"], list(seats), await new_buyers(http, sale.buyers), think_s=0.2
        )
        crowd = Crowd(http, room_event["id"], list(room_seats), await new_buyers(http, sale.waiters))
        stop = asyncio.Event()
        load = asyncio.gather(shoppers.run(stop, sessions=sale.sessions), crowd.run())

        async def under_way() -> bool | None:
            assert not load.done(), load
            return True if len(shoppers.acked) >= sale.seats // 5 else None

        await eventually(under_way, within=60, what="the sale to get going")
        owner, in_flight = await _kill_a_paying_worker(fleet, pool)
        acked_before_kill = len(shoppers.acked)
        await asyncio.wait_for(load, timeout=300)

        # No job stranded: every purchase ends, the killed worker's ones taken over.
        async def all_final() -> bool | None:
            pending = await pool.fetchval("SELECT count(*) FROM purchases WHERE status = 'PENDING'")
            return True if pending == 0 else None

        await eventually(
            all_final, within=LEASE_SECONDS * 3 + 30, what="every purchase to reach a final state"
        )
        assert in_flight, f"worker {owner} had no purchase in flight when it was killed"
        taken_over = await pool.fetch(
            "SELECT id, status, attempts FROM purchases WHERE id = ANY($1::text[])", in_flight
        )
        assert {(r["status"], r["attempts"] >= 2) for r in taken_over} == {("SUCCEEDED", True)}, taken_over
        accepted = {**shoppers.accepted, **crowd.accepted}
        statuses = await pool.fetch("SELECT id, hold_id, status FROM purchases")
        assert {r["id"]: r["hold_id"] for r in statuses} == accepted
        assert {r["status"] for r in statuses} == {"SUCCEEDED"}

        # Nothing charged or booked twice.
        ledger = await fleet.sandbox.ledger()
        charged = collections.Counter(p["metadata"]["purchaseId"] for p in ledger)
        assert charged == dict.fromkeys(accepted, 1), charged
        result = await audit(pool, ledger)
        assert set(result.bookings) == set(accepted)

        # No expiry lost: every hold not purchased ends EXPIRED, every unsold seat is free.
        acked = set(shoppers.acked) | set(crowd.holds)
        assert len(shoppers.acked) > acked_before_kill, "the sale went on after the kill"

        async def expired() -> dict[str, str] | None:
            rows = await pool.fetch("SELECT id, status FROM holds")
            found = {r["id"]: r["status"] for r in rows}
            return found if set(found.values()) <= {"PURCHASED", "EXPIRED"} else None

        final = await eventually(expired, within=30, what="every unpurchased hold to expire")
        assert set(final) == acked, "every acknowledged hold is in PostgreSQL, and only those"
        assert {h for h, s in final.items() if s == "PURCHASED"} == set(accepted.values())
        assert any(final[h] == "EXPIRED" for h in list(shoppers.acked)[acked_before_kill:])
        sold = {
            (r["event_id"], r["seat_id"])
            for r in await pool.fetch("SELECT event_id, seat_id FROM booking_seats")
        }
        for event_id in (shop_event["id"], room_event["id"]):

            async def settled(event_id: str = event_id) -> dict[str, str] | None:
                shown = await seat_statuses(http, event_id)
                wanted = {s: "SOLD" if (event_id, s) in sold else "AVAILABLE" for s in shown}
                return shown if shown == wanted else None

            await eventually(settled, within=15, what=f"{event_id}'s seat map to show only sales")

    # The waiting room: everybody admitted, never above the cap nor faster than the rate.
    assert set(crowd.admitted_at_ms) == {b.user_id for b in crowd.buyers}
    assert crowd.holds, "admitted buyers could hold with their admission token"
    most_live = check_admissions(list(crowd.admitted_at_ms.values()), sale)
    # Each admission that lapsed unseen hides at most one from this count.
    assert most_live >= sale.max_admitted - crowd.lapsed, "the cap was reached: it is what held the line"

    report = await cli(fleet.env, "audit")
    assert report.returncode == 0, report.stdout + report.stderr
