"""Every answer carries ``X-Content-Type-Options: nosniff`` and a Referrer-Policy; token
responses are ``Cache-Control: no-store`` (no shared cache keeps a bearer or admission
token)."""

from __future__ import annotations

import secrets

import asyncpg
import httpx

from tests import factories
from tests.conftest import ServerProcess
from tests.e2e.buyers import new_buyer
from tests.e2e.raw_http import raw_request


def _assert_protected(headers: httpx.Headers | dict[str, str], what: str) -> None:
    assert headers.get("x-content-type-options") == "nosniff", (what, headers)
    assert headers.get("referrer-policy") in {
        "no-referrer",
        "same-origin",
        "strict-origin-when-cross-origin",
    }, (
        what,
        headers,
    )


async def test_every_kind_of_answer_carries_the_security_headers(
    server: ServerProcess, http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    v = factories.venue()
    e = factories.event(v)
    await factories.load(pool, {"venues": [v], "events": [e]})
    buyer = await new_buyer(http)
    hold = await http.post(
        f"/events/{e['id']}/holds",
        json={"seatIds": ["sec0-A-1"]},
        headers={**buyer.auth, "Idempotency-Key": secrets.token_hex(4)},
    )
    assert hold.status_code == 201, hold.text
    _assert_protected(hold.headers, "hold (bare ASGI route)")
    answers = {
        "event list": await http.get("/events"),
        "event": await http.get(f"/events/{e['id']}"),
        "seat map": await http.get(f"/events/{e['id']}/seats"),
        "unknown event": await http.get("/events/evt_nope"),
        "unknown route": await http.get("/nowhere"),
        "wrong method": await http.put("/events"),
        "no token": await http.get("/bookings"),
        "bad query": await http.get("/events?limit=0"),
        "healthz": await http.get("/healthz"),
        "readyz": await http.get("/readyz"),
        "metrics": await http.get("/metrics"),
        "openapi": await http.get("/openapi.json"),
        "docs": await http.get("/docs"),
        "web app": await http.get("/"),
        "hold read": await http.get(f"/holds/{hold.json()['holdId']}", headers=buyer.auth),
    }
    for what, response in answers.items():
        assert response.status_code < 500, (what, response.text)
        _assert_protected(response.headers, what)
    for what, raw in {
        "guard 404": await raw_request(server.url, "GET", b"/events/a%00b"),
        "body 413": await raw_request(server.url, "POST", b"/auth/guest", [(b"content-length", b"999999")]),
        "body 415": await raw_request(
            server.url, "POST", b"/auth/guest", [(b"content-type", b"text/plain")], b"hello"
        ),
        "parser 400": await raw_request(server.url, "GET", b"/events", [(b"x-queue-token", b"a\x00b")]),
    }.items():
        _assert_protected(raw.headers, what)
    async with http.stream("GET", f"/events/{e['id']}/seats/stream") as stream:
        assert stream.status_code == 200
        _assert_protected(stream.headers, "seat stream")


async def test_token_answers_are_not_stored_by_any_cache(http: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    v = factories.venue()
    e = factories.event(v, waiting_room=True)
    await factories.load(pool, {"venues": [v], "events": [e]})
    guest = await http.post("/auth/guest")
    assert guest.status_code == 201
    assert guest.headers.get("cache-control") == "no-store", guest.headers
    auth = {"Authorization": f"Bearer {guest.json()['token']}"}
    joined = await http.post(f"/events/{e['id']}/queue", headers=auth)
    assert joined.status_code == 201, joined.text
    assert joined.headers.get("cache-control") == "no-store"
    status = await http.get(
        f"/events/{e['id']}/queue/status", headers={**auth, "X-Queue-Token": joined.json()["queueToken"]}
    )
    assert status.status_code == 200, status.text
    assert status.headers.get("cache-control") == "no-store"
