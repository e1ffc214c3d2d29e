"""Who may do what (SPEC I6), against the demo deployment (tests/e2e/demo_stack.py).

Every (auth) operation is called with no token, a tampered one (another buyer's id
under the owner's signature, and an unsigned ``alg: none`` token), an expired one,
another buyer's, and the owner's: API.md says 401 for the first three, 404 for another
buyer's hold, purchase or booking (nothing revealed, nothing changed), and success for
the owner. Then each token kind stands in for another: a queue or admission token is no
bearer token (401), a bearer or admission token is no queue token (403), and a hold needs
the buyer's own admission token for that very event (403 ``admission_required``).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest

from tests.e2e.buyers import Buyer, new_buyer
from tests.e2e.demo_stack import OPEN_EVENT, WAITING_ROOM_EVENT, DemoStack
from tests.fleet import eventually

OTHER_WAITING_ROOM_EVENT = "evt_0013"  # the demo's second stadium show


@dataclass(frozen=True, slots=True)
class Admitted:
    queue_token: str
    admission_token: str


@dataclass
class World:
    """Two buyers and what the owner has: holds, a paid purchase, places in two queues."""

    http: httpx.AsyncClient
    stack: DemoStack
    owner: Buyer
    other: Buyer
    open_seats: list[str]
    room_seats: list[str]
    admitted: dict[tuple[str, str], Admitted]  # (user id, event id) -> tokens
    hold_to_read: str = ""
    hold_to_cancel: str = ""
    hold_to_pay: str = ""
    purchase: str = ""
    booking: str = ""

    def seat(self) -> str:
        return self.open_seats.pop()

    def tokens(self, buyer: Buyer, event_id: str = WAITING_ROOM_EVENT) -> Admitted:
        return self.admitted[(buyer.user_id, event_id)]

    def bearer(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def credentials(self) -> dict[str, dict[str, str]]:
        """The bearer variants of the matrix, each as the headers it sends."""
        return {
            "no token": {},
            "tampered": self.bearer(tampered(self.owner.token, sub=self.other.user_id)),
            "unsigned": self.bearer(unsigned(self.owner.token)),
            "expired": self.bearer(
                self.stack.signer.sign_until("access", self.owner.user_id, time.time() - 5)
            ),
            "another buyer's": self.other.auth,
            "the owner's": self.owner.auth,
        }


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def tampered(token: str, **changes: Any) -> str:
    """The token with its claims changed and its signature kept."""
    header, _, signature = token.split(".")
    body = json.dumps(_claims(token) | changes).encode()
    return ".".join([header, base64.urlsafe_b64encode(body).rstrip(b"=").decode(), signature])


def unsigned(token: str) -> str:
    """The same claims signed with ``alg: none``."""
    return jwt.encode(_claims(token), key=None, algorithm="none")


async def hold(world: World, buyer: Buyer, event_id: str, seats: list[str], **headers: str) -> httpx.Response:
    return await world.http.post(
        f"/events/{event_id}/holds",
        json={"seatIds": seats},
        headers={**buyer.auth, "Idempotency-Key": secrets.token_hex(8), **headers},
    )


async def admit(http: httpx.AsyncClient, buyer: Buyer, event_id: str) -> Admitted:
    joined = await http.post(f"/events/{event_id}/queue", headers=buyer.auth)
    assert joined.status_code == 201, joined.text
    queue_token = joined.json()["queueToken"]

    async def admission() -> str | None:
        status = await http.get(
            f"/events/{event_id}/queue/status", headers={**buyer.auth, "X-Queue-Token": queue_token}
        )
        assert status.status_code == 200, status.text
        return status.json().get("admissionToken")

    return Admitted(queue_token, await eventually(admission, within=20, what="an admission"))


async def available_seats(http: httpx.AsyncClient, event_id: str, count: int) -> list[str]:
    seat_map = (await http.get(f"/events/{event_id}/seats")).json()
    free = [s["id"] for sec in seat_map["sections"] for s in sec["seats"] if s["status"] == "AVAILABLE"]
    return free[-count:]


@pytest.fixture(scope="module")
async def world(demo_stack: DemoStack) -> AsyncIterator[World]:
    async with httpx.AsyncClient(base_url=demo_stack.url, timeout=30) as http:
        owner, other = await new_buyer(http), await new_buyer(http)
        admitted = {
            (buyer.user_id, event_id): await admit(http, buyer, event_id)
            for buyer in (owner, other)
            for event_id in (WAITING_ROOM_EVENT, OTHER_WAITING_ROOM_EVENT)
        }
        w = World(
            http,
            demo_stack,
            owner,
            other,
            await available_seats(http, OPEN_EVENT, 40),
            await available_seats(http, WAITING_ROOM_EVENT, 4),
            admitted,
        )
        held = [await hold(w, owner, OPEN_EVENT, [w.seat()]) for _ in range(4)]
        assert [r.status_code for r in held] == [201] * 4, [r.text for r in held]
        w.hold_to_read, w.hold_to_cancel, w.hold_to_pay, paid = (r.json()["holdId"] for r in held)
        bought = await http.post(
            f"/holds/{paid}/purchase", json={"paymentToken": "tok_visa"}, headers=owner.auth
        )
        assert bought.status_code == 202, bought.text
        w.purchase = bought.json()["purchaseId"]

        async def booked() -> str | None:
            p = (await http.get(f"/purchases/{w.purchase}", headers=owner.auth)).json()
            assert p["status"] != "FAILED", p
            return p["bookingId"]

        w.booking = await eventually(booked, within=30, what="the purchase to succeed")
        yield w


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    path: str
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()

    async def send(self, world: World, credential: dict[str, str]) -> httpx.Response:
        headers = {**credential, **dict(self.headers)}
        if self.method == "POST" and self.path.endswith("/holds"):
            headers["Idempotency-Key"] = secrets.token_hex(8)
        return await world.http.request(self.method, self.path, json=self.body, headers=headers)


def matrix_calls(w: World) -> dict[str, tuple[Call, int, int | None]]:
    """operation -> (its call, the owner's status, another buyer's status or None where a
    call of another buyer is simply theirs: a hold or queue place of their own)."""
    queue_token = w.tokens(w.owner).queue_token
    return {
        "create hold": (Call("POST", f"/events/{OPEN_EVENT}/holds", {"seatIds": [w.seat()]}), 201, None),
        "get hold": (Call("GET", f"/holds/{w.hold_to_read}"), 200, 404),
        "cancel hold": (Call("DELETE", f"/holds/{w.hold_to_cancel}"), 204, 404),
        "purchase": (
            Call("POST", f"/holds/{w.hold_to_pay}/purchase", {"paymentToken": "tok_visa"}),
            202,
            404,
        ),
        "get purchase": (Call("GET", f"/purchases/{w.purchase}"), 200, 404),
        "list bookings": (Call("GET", "/bookings"), 200, 200),
        "get booking": (Call("GET", f"/bookings/{w.booking}"), 200, 404),
        "join queue": (Call("POST", f"/events/{WAITING_ROOM_EVENT}/queue"), 201, None),
        "queue status": (
            Call(
                "GET", f"/events/{WAITING_ROOM_EVENT}/queue/status", headers=(("X-Queue-Token", queue_token),)
            ),
            200,
            403,
        ),
    }


ERROR_OF = {401: "unauthorized", 403: "forbidden", 404: "not_found"}


async def test_every_operation_answers_only_its_owner(world: World) -> None:
    credentials = world.credentials()
    wrong: dict[tuple[str, str], tuple[int, int]] = {}
    for operation, (call, owner_status, other_status) in matrix_calls(world).items():
        expected = {"no token": 401, "tampered": 401, "unsigned": 401, "expired": 401}
        if other_status is not None:
            expected["another buyer's"] = other_status
        expected["the owner's"] = owner_status  # last: the owner's writes change the resource
        for credential, status in expected.items():
            response = await call.send(world, credentials[credential])
            if response.status_code != status:
                wrong[(operation, credential)] = (response.status_code, status)
            elif status in ERROR_OF:
                assert response.json()["error"] == ERROR_OF[status], (operation, credential, response.text)
    assert wrong == {}, "(operation, token) -> (answered, expected)"


async def test_another_buyer_learns_and_changes_nothing(world: World) -> None:
    other = world.other.auth
    target = (await hold(world, world.owner, OPEN_EVENT, [world.seat()])).json()["holdId"]
    assert (await world.http.delete(f"/holds/{target}", headers=other)).status_code == 404
    paid = await world.http.post(
        f"/holds/{target}/purchase", json={"paymentToken": "tok_visa"}, headers=other
    )
    assert paid.status_code == 404
    mine = await world.http.get(f"/holds/{target}", headers=world.owner.auth)
    assert mine.json()["status"] == "ACTIVE", "another buyer's request changed the hold"
    theirs = (await world.http.get("/bookings", headers=other)).json()["bookings"]
    assert world.booking not in {b["bookingId"] for b in theirs}
    owners = (await world.http.get("/bookings", headers=world.owner.auth)).json()["bookings"]
    assert world.booking in {b["bookingId"] for b in owners}


async def test_queue_and_admission_tokens_are_not_bearer_tokens(world: World) -> None:
    tokens = world.tokens(world.owner)
    answered = {}
    for operation, (call, _, _) in matrix_calls(world).items():
        for kind, token in (("queue", tokens.queue_token), ("admission", tokens.admission_token)):
            response = await call.send(world, world.bearer(token))
            answered[(operation, kind)] = response.status_code
    assert set(answered.values()) == {401}, answered


async def test_a_queue_status_needs_the_buyers_own_queue_token_for_that_event(world: World) -> None:
    owner, other = world.owner, world.other
    mine = world.tokens(owner)
    refused = {
        "a bearer token": owner.token,
        "an admission token": mine.admission_token,
        "another buyer's queue token": world.tokens(other).queue_token,
        "a queue token of another event": world.tokens(owner, OTHER_WAITING_ROOM_EVENT).queue_token,
        "a tampered queue token": tampered(mine.queue_token, n=1),
        "an expired queue token": world.stack.signer.sign_until(
            "queue", owner.user_id, time.time() - 5, **_extra(mine.queue_token)
        ),
    }
    path = f"/events/{WAITING_ROOM_EVENT}/queue/status"
    answered = {}
    for what, token in refused.items():
        response = await world.http.get(path, headers={**owner.auth, "X-Queue-Token": token})
        answered[what] = (response.status_code, response.json()["error"])
    assert set(answered.values()) == {(403, "forbidden")}, answered
    missing = await world.http.get(path, headers=owner.auth)
    assert missing.status_code == 400
    accepted = await world.http.get(path, headers={**owner.auth, "X-Queue-Token": mine.queue_token})
    assert accepted.status_code == 200
    assert accepted.json()["admitted"] is True


def _extra(token: str) -> dict[str, Any]:
    """A token's own claims, less those every token has (to sign a twin of it)."""
    return {k: v for k, v in _claims(token).items() if k not in {"iss", "typ", "sub", "iat", "exp"}}


async def test_a_hold_needs_the_buyers_own_admission_for_that_event(world: World) -> None:
    owner, other = world.owner, world.other
    mine = world.tokens(owner)
    refused = {
        "no admission token": None,
        "a bearer token": owner.token,
        "a queue token": mine.queue_token,
        "another buyer's admission": world.tokens(other).admission_token,
        "an admission for another event": world.tokens(owner, OTHER_WAITING_ROOM_EVENT).admission_token,
        "a tampered admission": tampered(mine.admission_token, evt=OTHER_WAITING_ROOM_EVENT),
        "an expired admission": world.stack.signer.sign_until(
            "admission", owner.user_id, time.time() - 5, **_extra(mine.admission_token)
        ),
    }
    seat = world.room_seats.pop()
    answered = {}
    for what, token in refused.items():
        extra = {} if token is None else {"X-Admission-Token": token}
        response = await hold(world, owner, WAITING_ROOM_EVENT, [seat], **extra)
        answered[what] = (response.status_code, response.json()["error"])
    assert set(answered.values()) == {(403, "admission_required")}, answered
    accepted = await hold(
        world, owner, WAITING_ROOM_EVENT, [seat], **{"X-Admission-Token": mine.admission_token}
    )
    assert accepted.status_code == 201, accepted.text
