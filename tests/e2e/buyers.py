"""Small HTTP helpers shared by the hold end-to-end tests: guest buyers, holds, seat maps."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True, slots=True)
class Buyer:
    token: str
    user_id: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def new_buyer(http: httpx.AsyncClient) -> Buyer:
    response = await http.post("/auth/guest")
    assert response.status_code == 201, response.text
    body = response.json()
    return Buyer(body["token"], body["userId"])


async def new_buyers(http: httpx.AsyncClient, count: int) -> list[Buyer]:
    """``count`` distinct guests, created concurrently."""
    buyers = await asyncio.gather(*(new_buyer(http) for _ in range(count)))
    assert len({b.user_id for b in buyers}) == count
    return list(buyers)


async def hold(
    http: httpx.AsyncClient,
    buyer: Buyer,
    event_id: str,
    seat_ids: list[str],
    key: str | None = None,
) -> httpx.Response:
    """POST a hold with a fresh Idempotency-Key unless one is given."""
    headers = {**buyer.auth, "Idempotency-Key": key or secrets.token_hex(8)}
    return await http.post(f"/events/{event_id}/holds", json={"seatIds": seat_ids}, headers=headers)


async def seat_map(http: httpx.AsyncClient, event_id: str) -> dict[str, Any]:
    response = await http.get(f"/events/{event_id}/seats")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def seat_statuses(http: httpx.AsyncClient, event_id: str) -> dict[str, str]:
    """Seat id -> AVAILABLE | HELD | SOLD, as the public seat map shows it now."""
    body = await seat_map(http, event_id)
    return {seat["id"]: seat["status"] for section in body["sections"] for seat in section["seats"]}


def held(statuses: dict[str, str]) -> set[str]:
    return {sid for sid, status in statuses.items() if status == "HELD"}
