"""The waiting room after Redis restarts empty in the middle of an on-sale (I5, SPEC §3).

The queue lives in Redis only (counter, members, freeze, admission log, the ticker's list of
queues). The test runs its own ``redis-server`` (no persistence) under an API server and a
worker running the admission ticker, on an event admitting one buyer at a time (cap 1). One
buyer is admitted, one waits behind the cap; Redis is SIGKILLed and started again empty.
Then, without restarting anything:

- the admitted buyer's admission token (signed; Redis need not know it) still holds seats;
- the waiting buyer's queue token, of the line Redis lost, is refused (403 ``forbidden``,
  "join the queue again"), never answered with a place that the new line hands out again;
- joining again gives a place in the new line, and the ticker, having lost its list of
  queues, picks the event up again and admits it;
- the new line keeps the configured cap: the next joiner waits while that admission runs
  (the ticker stepping meanwhile) and is admitted once it lapses, one window later.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as redis

from tests import factories
from tests.e2e.buyers import Buyer, new_buyer
from tests.fleet import Fleet, eventually, fleet_http, own_fleet
from ticketmaster.adapters.redis.keys import RedisKeys

WINDOW_S = 12  # the admission window: long enough to hold across the restart


@pytest.fixture
def fleet(server_env: dict[str, str], tmp_path: Path) -> Iterator[Fleet]:
    settings = {
        "TICKETMASTER_QUEUE_TICK_SECONDS": "0.05",
        "TICKETMASTER_QUEUE_HEARTBEAT_TIMEOUT_SECONDS": "2",
    }
    with own_fleet(server_env, tmp_path, settings, own_redis=True) as running:
        yield running


http = fleet_http()


async def join(http: httpx.AsyncClient, buyer: Buyer, event_id: str) -> dict[str, Any]:
    response = await http.post(f"/events/{event_id}/queue", headers=buyer.auth)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def status(http: httpx.AsyncClient, buyer: Buyer, event_id: str, queue_token: str) -> httpx.Response:
    headers = {**buyer.auth, "X-Queue-Token": queue_token}
    return await http.get(f"/events/{event_id}/queue/status", headers=headers)


async def admitted(http: httpx.AsyncClient, buyer: Buyer, event_id: str, queue_token: str) -> dict[str, Any]:
    async def poll() -> dict[str, Any] | None:
        response = await status(http, buyer, event_id, queue_token)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body if body["admitted"] else None

    return await eventually(poll, within=WINDOW_S + 15, what=f"{buyer.user_id} to be admitted", every=0.2)


async def hold(
    http: httpx.AsyncClient, buyer: Buyer, event_id: str, seat: str, admission: str
) -> httpx.Response:
    headers = {**buyer.auth, "Idempotency-Key": secrets.token_hex(8), "X-Admission-Token": admission}
    return await http.post(f"/events/{event_id}/holds", json={"seatIds": [seat]}, headers=headers)


def at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def test_after_redis_restarts_empty_buyers_join_again_and_admitted_ones_still_hold(
    fleet: Fleet, http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    v = factories.venue(sections=1, rows=2, seats=10)
    opened = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="milliseconds")
    e = factories.event(
        v,
        on_sale_at=opened.replace("+00:00", "Z"),
        waiting_room=True,
        admissionRatePerMinute=600,
        maxAdmitted=1,
        admissionWindowSeconds=WINDOW_S,
    )
    await factories.load(pool, {"venues": [v], "events": [e]})
    event_id = e["id"]
    alice, bob, carol = [await new_buyer(http) for _ in range(3)]

    alice_pass = await admitted(http, alice, event_id, (await join(http, alice, event_id))["queueToken"])
    bob_ticket = await join(http, bob, event_id)
    assert bob_ticket["position"] == 2
    waiting = (await status(http, bob, event_id, bob_ticket["queueToken"])).json()
    assert waiting["admitted"] is False, "the cap (1) is taken by alice"

    await _restart_empty(fleet)

    # Alice's admission is signed: the hold path needs nothing from Redis to honour it.
    async def alice_holds() -> httpx.Response | None:
        response = await hold(http, alice, event_id, "sec0-A-1", alice_pass["admissionToken"])
        assert response.status_code in (201, 503), response.text
        return response if response.status_code == 201 else None

    await eventually(alice_holds, within=WINDOW_S - 2, what="alice's hold after the restart")

    # Bob's ticket is of the lost line: refused, with what to do, never a recycled place
    # (until then: 503 while the API reconnects, or the view each process caches for 250 ms).
    async def bob_refused() -> httpx.Response | None:
        response = await status(http, bob, event_id, bob_ticket["queueToken"])
        assert response.status_code in (200, 403, 503), response.text
        if response.status_code == 200:
            assert response.json()["admitted"] is False, response.text
        return response if response.status_code == 403 else None

    refused = await eventually(bob_refused, within=10, what="bob's old ticket to be refused")
    assert refused.json()["error"] == "forbidden", refused.text
    assert "join the queue again" in refused.json()["message"], refused.text

    bob_again = await join(http, bob, event_id)
    assert bob_again["position"] == 1, "the first place of the new line"
    bob_pass = await admitted(http, bob, event_id, bob_again["queueToken"])
    held = await hold(http, bob, event_id, "sec0-A-2", bob_pass["admissionToken"])
    assert held.status_code == 201, held.text

    # The new line keeps the cap: carol waits while bob's admission runs, the ticker stepping.
    carol_ticket = await join(http, carol, event_id)
    assert carol_ticket["position"] == 2
    await _ticker_steps(fleet, event_id, 3)
    behind = await status(http, carol, event_id, carol_ticket["queueToken"])
    assert at(bob_pass["expiresAt"]) > datetime.now(UTC), "bob's admission still runs"
    assert behind.json()["admitted"] is False, behind.text
    carol_pass = await admitted(http, carol, event_id, carol_ticket["queueToken"])
    assert at(carol_pass["admittedAt"]) >= at(bob_pass["expiresAt"]) - timedelta(milliseconds=100)


async def _restart_empty(fleet: Fleet) -> None:
    fleet.redis.kill()
    fleet.redis.start()
    client = redis.Redis.from_url(fleet.redis.url)
    try:
        assert await client.dbsize() == 0, "Redis came back empty"
    finally:
        await client.aclose()


async def _ticker_steps(fleet: Fleet, event_id: str, steps: int) -> None:
    """Return once the admission ticker has stepped the event's queue ``steps`` more times."""
    client = redis.Redis.from_url(fleet.redis.url, decode_responses=True)
    queue_state = RedisKeys(fleet.env["TICKETMASTER_REDIS_NAMESPACE"]).queue_state(event_id)
    try:
        seen: set[str] = set()

        async def stepped() -> bool | None:
            last = await client.hget(queue_state, "last")
            if last is not None:
                seen.add(str(last))
            return True if len(seen) > steps else None

        await eventually(stepped, within=10, what=f"{steps} ticker steps")
    finally:
        await client.aclose()
