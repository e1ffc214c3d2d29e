"""The per-buyer limit counts held and bought seats (API.md "Holds"): at most 8 seats of one
event across holds and bookings, or the event's ``maxTicketsPerBuyer``, for named and
best-available holds alike. Purchases are real: workers paying through the sandbox."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import ServerProcess
from tests.e2e.buyers import Buyer, hold
from tests.e2e.purchase_helpers import LEASE, PAYMENT_TIMEOUT, PurchaseStack, SandboxSpec, Shop, StackConfig

PAYING = StackConfig(SandboxSpec(latency="20:60"), workers=1, settings=((LEASE, "2"), (PAYMENT_TIMEOUT, "2")))


@pytest.fixture(scope="module")
def stack(server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[PurchaseStack]:
    s = PurchaseStack(server_env, tmp_path_factory.mktemp("limit-stack"))
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
async def shop(stack: PurchaseStack, server: ServerProcess, pool: asyncpg.Pool) -> AsyncIterator[Shop]:
    await asyncio.to_thread(stack.configure, PAYING)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        yield Shop(http, pool, stack)


async def buy(shop: Shop, buyer: Buyer, event_id: str, seats: list[str]) -> None:
    held = await shop.hold(buyer, event_id, seats)
    done = await shop.settle(buyer, await shop.purchase(buyer, held["holdId"]))
    assert done["status"] == "SUCCEEDED", done


async def best(shop: Shop, buyer: Buyer, event_id: str, count: int) -> Any:
    headers = {**buyer.auth, "Idempotency-Key": secrets.token_hex(8)}
    return await shop.http.post(f"/events/{event_id}/holds", json={"best": {"count": count}}, headers=headers)


def assert_limit(response: Any, held: int, bought: int) -> None:
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["error"] == "hold_limit", body
    assert (body["seatsHeld"], body["seatsBought"]) == (held, bought)


async def test_eight_bought_seats_leave_no_room_for_a_ninth(shop: Shop) -> None:
    event_id, seats = await shop.event(seats=12)
    buyer, other = await shop.buyer(), await shop.buyer()
    await buy(shop, buyer, event_id, seats[:5])
    await buy(shop, buyer, event_id, seats[5:8])

    assert_limit(await hold(shop.http, buyer, event_id, [seats[8]]), held=0, bought=8)
    assert_limit(await best(shop, buyer, event_id, 1), held=0, bought=8)
    # Another buyer is not limited by it.
    assert (await hold(shop.http, other, event_id, [seats[8]])).status_code == 201


async def test_an_event_sets_its_own_limit_and_bookings_count_towards_it(shop: Shop) -> None:
    small, small_seats = await shop.event(seats=10, maxTicketsPerBuyer=3)
    large, large_seats = await shop.event(seats=12, maxTicketsPerBuyer=10)
    buyer = await shop.buyer()

    await buy(shop, buyer, small, small_seats[:2])
    assert_limit(await best(shop, buyer, small, 2), held=0, bought=2)
    assert (await best(shop, buyer, small, 1)).status_code == 201
    assert_limit(await hold(shop.http, buyer, small, [small_seats[9]]), held=1, bought=2)

    await buy(shop, buyer, large, large_seats[:8])
    assert (await hold(shop.http, buyer, large, large_seats[8:10])).status_code == 201
    assert_limit(await best(shop, buyer, large, 1), held=2, bought=8)
