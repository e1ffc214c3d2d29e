"""The hold and seat-map HTTP contract (API.md "Holds", "Browse"; SPEC I2, I5, I6, I7)."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests import factories
from tests.e2e.buyers import Buyer, held, hold, new_buyer, new_buyers, seat_map, seat_statuses
from ticketmaster.adapters.tokens import TokenSigner

DEFAULT_TTL = timedelta(seconds=600)


async def one_event(pool: asyncpg.Pool, **event: Any) -> tuple[str, list[str]]:
    """A fresh event on a 40-seat venue; returns its id and seat ids in layout order."""
    v = factories.venue(sections=2, rows=2, seats=10)
    e = factories.event(v, **event)
    await factories.load(pool, {"venues": [v], "events": [e]})
    seats = [
        f"{s['id']}-{r['id']}-{n}" for s in v["sections"] for r in s["rows"] for n in range(1, r["seats"] + 1)
    ]
    return e["id"], seats


def when(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def hold_rows(pool: asyncpg.Pool, event_id: str) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT id, user_id, status FROM holds WHERE event_id = $1", event_id)


async def get_hold(http: httpx.AsyncClient, buyer: Buyer, hold_id: str) -> httpx.Response:
    return await http.get(f"/holds/{hold_id}", headers=buyer.auth)


async def cancel(http: httpx.AsyncClient, buyer: Buyer, hold_id: str) -> httpx.Response:
    return await http.delete(f"/holds/{hold_id}", headers=buyer.auth)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str)
    assert body["message"]
    return body


# --- creating a hold -----------------------------------------------------------------------


async def test_a_hold_answers_201_with_the_contract_fields(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    event_id, seats = await one_event(pool)
    buyer = await new_buyer(http)
    before = datetime.now(UTC)

    response = await hold(http, buyer, event_id, [seats[3], seats[1]])

    after = datetime.now(UTC)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) >= {"holdId", "eventId", "seatIds", "expiresAt", "status"}
    assert isinstance(body["holdId"], str)
    assert body["holdId"]
    assert body["eventId"] == event_id
    assert sorted(body["seatIds"]) == sorted([seats[3], seats[1]])
    assert body["status"] == "ACTIVE"
    slack = timedelta(seconds=2)
    assert before + DEFAULT_TTL - slack <= when(body["expiresAt"]) <= after + DEFAULT_TTL + slack
    rows = await hold_rows(pool, event_id)
    assert [(r["id"], r["user_id"], r["status"]) for r in rows] == [(body["holdId"], buyer.user_id, "ACTIVE")]
    statuses = await seat_statuses(http, event_id)
    assert held(statuses) == {seats[1], seats[3]}


async def test_fifty_concurrent_requests_with_one_key_make_exactly_one_hold(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    event_id, seats = await one_event(pool)
    buyer = await new_buyer(http)

    responses = await asyncio.gather(
        *(hold(http, buyer, event_id, [seats[0], seats[1]], key="checkout-1") for _ in range(50))
    )

    failures = [r.text for r in responses if r.status_code != 201]
    assert failures == []
    bodies = {r.content for r in responses}
    assert len(bodies) == 1, bodies
    body = responses[0].json()
    count = await pool.fetchval(
        "SELECT count(*) FROM holds WHERE user_id = $1 AND idempotency_key = $2", buyer.user_id, "checkout-1"
    )
    assert count == 1
    assert [r["id"] for r in await hold_rows(pool, event_id)] == [body["holdId"]]
    assert held(await seat_statuses(http, event_id)) == {seats[0], seats[1]}


async def test_the_same_key_with_another_body_is_an_idempotency_conflict(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    event_id, seats = await one_event(pool)
    buyer = await new_buyer(http)
    first = await hold(http, buyer, event_id, [seats[0]], key="k-1")
    assert first.status_code == 201

    conflict = await hold(http, buyer, event_id, [seats[0], seats[5]], key="k-1")

    assert_error(conflict, 422, "idempotency_conflict")
    assert [r["id"] for r in await hold_rows(pool, event_id)] == [first.json()["holdId"]]
    assert held(await seat_statuses(http, event_id)) == {seats[0]}


async def test_the_same_key_on_another_event_is_an_idempotency_conflict(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    event_id, seats = await one_event(pool)
    other_id, other_seats = await one_event(pool)
    buyer = await new_buyer(http)
    assert (await hold(http, buyer, event_id, [seats[0]], key="k-shared")).status_code == 201

    conflict = await hold(http, buyer, other_id, [other_seats[0]], key="k-shared")

    assert_error(conflict, 422, "idempotency_conflict")
    assert await hold_rows(pool, other_id) == []
    assert held(await seat_statuses(http, other_id)) == set()
    # Refused means nothing is held: somebody else can take that seat at once.
    someone = await new_buyer(http)
    assert (await hold(http, someone, other_id, [other_seats[0]])).status_code == 201


async def test_a_replay_after_cancelling_returns_the_original_201_and_holds_nothing(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    event_id, seats = await one_event(pool)
    buyer = await new_buyer(http)
    original = await hold(http, buyer, event_id, [seats[2], seats[3]], key="k-replay")
    assert original.status_code == 201
    assert (await cancel(http, buyer, original.json()["holdId"])).status_code == 204

    replay = await hold(http, buyer, event_id, [seats[2], seats[3]], key="k-replay")

    assert replay.status_code == 201, replay.text
    assert replay.json() == original.json()
    assert replay.json()["status"] == "ACTIVE"
    rows = await hold_rows(pool, event_id)
    assert [(r["id"], r["status"]) for r in rows] == [(original.json()["holdId"], "CANCELLED")]
    assert held(await seat_statuses(http, event_id)) == set()
    status = await get_hold(http, buyer, original.json()["holdId"])
    assert status.json()["status"] == "CANCELLED"


async def test_a_missing_idempotency_key_is_a_400(http: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    event_id, seats = await one_event(pool)
    buyer = await new_buyer(http)

    response = await http.post(f"/events/{event_id}/holds", json={"seatIds": [seats[0]]}, headers=buyer.auth)

    assert_error(response, 400, "invalid_request")
    assert await hold_rows(pool, event_id) == []


async def test_an_unknown_event_is_a_404(http: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    buyer = await new_buyer(http)

    response = await hold(http, buyer, "evt_nope", ["sec0-A-1"])

    assert_error(response, 404, "not_found")
    assert await pool.fetchval("SELECT count(*) FROM holds") == 0


@pytest.mark.parametrize(
    ("case", "expected_named"),
    [("unknown", ["sec9-Z-99"]), ("duplicate", "dup"), ("empty", None), ("nine", None)],
)
async def test_bad_seat_lists_are_422_naming_the_seats(
    http: httpx.AsyncClient, pool: asyncpg.Pool, case: str, expected_named: list[str] | str | None
) -> None:
    event_id, seats = await one_event(pool)
    buyer = await new_buyer(http)
    requested = {
        "unknown": [seats[0], "sec9-Z-99"],
        "duplicate": [seats[4], seats[1], seats[4]],
        "empty": [],
        "nine": seats[:9],
    }[case]

    body = assert_error(await hold(http, buyer, event_id, requested), 422, "invalid_request")

    if expected_named == "dup":
        assert body["seatIds"] == [seats[4]]
    elif expected_named is not None:
        assert body["seatIds"] == expected_named
    else:
        assert body.get("field") == "seatIds" or "seatIds" in body["message"], body
    assert await hold_rows(pool, event_id) == []
    assert held(await seat_statuses(http, event_id)) == set()


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[1, 2]", b"{}", b'{"seatIds": "sec0-A-1"}', b'{"seatIds": ["sec0-A-1", 7]}'],
)
async def test_a_malformed_body_is_a_422_and_holds_nothing(
    http: httpx.AsyncClient, pool: asyncpg.Pool, raw: bytes
) -> None:
    event_id, _ = await one_event(pool)
    buyer = await new_buyer(http)
    headers = {**buyer.auth, "Idempotency-Key": "k-malformed", "Content-Type": "application/json"}

    response = await http.post(f"/events/{event_id}/holds", content=raw, headers=headers)

    body = assert_error(response, 422, "invalid_request")
    assert body["field"] in {"body", "seatIds"}
    assert await hold_rows(pool, event_id) == []


async def test_a_body_sent_in_pieces_is_read_whole(http: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    event_id, seats = await one_event(pool)
    buyer = await new_buyer(http)
    raw = json.dumps({"seatIds": [seats[0], seats[1]]}).encode()

    async def pieces() -> AsyncIterator[bytes]:  # chunked transfer encoding, 7 bytes a chunk
        for start in range(0, len(raw), 7):
            yield raw[start : start + 7]

    headers = {**buyer.auth, "Idempotency-Key": "k-pieces", "Content-Type": "application/json"}
    response = await http.post(f"/events/{event_id}/holds", content=pieces(), headers=headers)

    assert response.status_code == 201, response.text
    assert sorted(response.json()["seatIds"]) == sorted(seats[:2])


async def test_an_unauthenticated_hold_is_a_401_before_its_body_is_read(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    event_id, _ = await one_event(pool)

    response = await http.post(
        f"/events/{event_id}/holds",
        content=b"not json",
        headers={"Idempotency-Key": "k-anon", "Content-Type": "application/json"},
    )

    assert_error(response, 401, "unauthorized")
    assert await hold_rows(pool, event_id) == []


async def test_a_buyer_holds_at_most_eight_seats_of_an_event_across_holds(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    event_id, seats = await one_event(pool)
    buyer = await new_buyer(http)
    small = await hold(http, buyer, event_id, seats[0:3])
    large = await hold(http, buyer, event_id, seats[3:8])
    assert (small.status_code, large.status_code) == (201, 201)

    ninth = await hold(http, buyer, event_id, [seats[8]])

    assert_error(ninth, 409, "hold_limit")
    assert seats[8] not in held(await seat_statuses(http, event_id))
    # Other buyers are not limited by this one's holds.
    other = await new_buyer(http)
    assert (await hold(http, other, event_id, [seats[9]])).status_code == 201
    # Cancelling one hold makes room again.
    assert (await cancel(http, buyer, small.json()["holdId"])).status_code == 204
    again = await hold(http, buyer, event_id, [seats[8], seats[10], seats[11]])
    assert again.status_code == 201, again.text
    assert_error(await hold(http, buyer, event_id, [seats[12]]), 409, "hold_limit")


async def test_before_the_on_sale_time_a_hold_is_403_not_on_sale(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    event_id, seats = await one_event(pool, when="2099-06-01T20:00:00Z", on_sale_at="2099-01-01T10:00:00Z")
    buyer = await new_buyer(http)

    response = await hold(http, buyer, event_id, [seats[0]])

    assert_error(response, 403, "not_on_sale")
    assert await hold_rows(pool, event_id) == []
    assert held(await seat_statuses(http, event_id)) == set()


# --- reading and cancelling -----------------------------------------------------------------


async def test_a_buyer_reads_its_own_hold(http: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    event_id, seats = await one_event(pool)
    buyer = await new_buyer(http)
    created = (await hold(http, buyer, event_id, [seats[6], seats[7]])).json()

    response = await get_hold(http, buyer, created["holdId"])

    assert response.status_code == 200
    body = response.json()
    for name in ("holdId", "eventId", "seatIds", "expiresAt", "status"):
        assert body[name] == created[name], name


async def test_cancelling_frees_the_seats_at_once_and_repeating_it_is_harmless(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    event_id, seats = await one_event(pool)
    buyer = await new_buyer(http)
    hold_id = (await hold(http, buyer, event_id, [seats[0], seats[1]])).json()["holdId"]
    assert held(await seat_statuses(http, event_id)) == {seats[0], seats[1]}

    assert (await cancel(http, buyer, hold_id)).status_code == 204

    statuses = await seat_statuses(http, event_id)
    assert statuses[seats[0]] == statuses[seats[1]] == "AVAILABLE"
    assert held(statuses) == set()
    assert (await get_hold(http, buyer, hold_id)).json()["status"] == "CANCELLED"
    second = await cancel(http, buyer, hold_id)
    assert second.status_code == 204
    assert second.content == b""
    assert (await get_hold(http, buyer, hold_id)).json()["status"] == "CANCELLED"
    other = await new_buyer(http)
    assert (await hold(http, other, event_id, [seats[0], seats[1]])).status_code == 201


async def test_another_buyer_can_neither_read_nor_cancel_a_hold(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    event_id, seats = await one_event(pool)
    alice, bob = await new_buyers(http, 2)
    hold_id = (await hold(http, alice, event_id, [seats[0]])).json()["holdId"]

    assert_error(await get_hold(http, bob, hold_id), 404, "not_found")
    assert_error(await cancel(http, bob, hold_id), 404, "not_found")

    assert (await get_hold(http, alice, hold_id)).json()["status"] == "ACTIVE"
    assert [r["status"] for r in await hold_rows(pool, event_id)] == ["ACTIVE"]
    assert held(await seat_statuses(http, event_id)) == {seats[0]}
    assert_error(await hold(http, bob, event_id, [seats[0]]), 409, "seats_unavailable")


async def test_an_unknown_hold_is_a_404(http: httpx.AsyncClient) -> None:
    buyer = await new_buyer(http)

    assert_error(await get_hold(http, buyer, "hold_missing"), 404, "not_found")
    assert_error(await cancel(http, buyer, "hold_missing"), 404, "not_found")


def bad_tokens(secret: str, user_id: str, good: str) -> dict[str, dict[str, str]]:
    signer = TokenSigner(secret)
    expired, _ = signer.sign("access", user_id, -60)
    foreign, _ = TokenSigner("another-secret-" + "y" * 40).sign("access", user_id, 600)
    wrong_kind, _ = signer.sign("admission", user_id, 600)
    head, payload, signature = good.split(".")
    tampered = ".".join([head, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")])
    return {
        "none": {},
        "not bearer": {"Authorization": f"Basic {good}"},
        "garbage": {"Authorization": "Bearer not-a-token"},
        "expired": {"Authorization": f"Bearer {expired}"},
        "other secret": {"Authorization": f"Bearer {foreign}"},
        "wrong kind": {"Authorization": f"Bearer {wrong_kind}"},
        "tampered": {"Authorization": f"Bearer {tampered}"},
    }


async def test_requests_without_a_valid_bearer_token_are_401(
    http: httpx.AsyncClient, pool: asyncpg.Pool, server_env: dict[str, str]
) -> None:
    event_id, seats = await one_event(pool)
    buyer = await new_buyer(http)
    hold_id = (await hold(http, buyer, event_id, [seats[0]])).json()["holdId"]

    secret = server_env["TICKETMASTER_SECRET_KEY"]
    for name, headers in bad_tokens(secret, buyer.user_id, buyer.token).items():
        create = await http.post(
            f"/events/{event_id}/holds",
            json={"seatIds": [seats[1]]},
            headers={**headers, "Idempotency-Key": f"k-{name}"},
        )
        assert_error(create, 401, "unauthorized")
        assert_error(await http.get(f"/holds/{hold_id}", headers=headers), 401, "unauthorized")
        assert_error(await http.delete(f"/holds/{hold_id}", headers=headers), 401, "unauthorized")

    assert [(r["id"], r["status"]) for r in await hold_rows(pool, event_id)] == [(hold_id, "ACTIVE")]
    assert held(await seat_statuses(http, event_id)) == {seats[0]}


# --- the seat map ------------------------------------------------------------------------------


async def test_the_seat_map_lists_every_seat_with_the_contract_fields(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    event_id, seats = await one_event(pool)

    body = await seat_map(http, event_id)

    assert body["eventId"] == event_id
    assert isinstance(body["version"], int)
    assert [s["id"] for s in body["sections"]] == ["sec0", "sec1"]
    listed = []
    for section in body["sections"]:
        assert isinstance(section["name"], str)
        for seat in section["seats"]:
            assert set(seat) >= {"id", "row", "number", "status", "priceTierId"}
            assert seat["id"] == f"{section['id']}-{seat['row']}-{seat['number']}"
            assert seat["status"] == "AVAILABLE"
            assert seat["priceTierId"] == "pt_1"
            listed.append(seat["id"])
    assert sorted(listed) == sorted(seats)


async def test_the_seat_map_version_grows_after_a_hold_and_after_a_cancel(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    event_id, seats = await one_event(pool)
    buyer = await new_buyer(http)
    first = await seat_map(http, event_id)

    hold_id = (await hold(http, buyer, event_id, [seats[0]])).json()["holdId"]
    after_hold = await seat_map(http, event_id)
    assert (await cancel(http, buyer, hold_id)).status_code == 204
    after_cancel = await seat_map(http, event_id)

    assert first["version"] < after_hold["version"] < after_cancel["version"]


async def test_the_seat_map_answers_304_to_a_matching_etag(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    event_id, seats = await one_event(pool)
    buyer = await new_buyer(http)
    first = await http.get(f"/events/{event_id}/seats")
    etag = first.headers["ETag"]

    again = await http.get(f"/events/{event_id}/seats", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == etag

    assert (await hold(http, buyer, event_id, [seats[0]])).status_code == 201
    changed = await http.get(f"/events/{event_id}/seats", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert held({s["id"]: s["status"] for sec in changed.json()["sections"] for s in sec["seats"]}) == {
        seats[0]
    }


async def test_the_seat_map_is_gzipped_for_clients_that_accept_it(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    event_id, _ = await one_event(pool)
    plain = await http.get(f"/events/{event_id}/seats", headers={"Accept-Encoding": "identity"})

    async with http.stream("GET", f"/events/{event_id}/seats", headers={"Accept-Encoding": "gzip"}) as zipped:
        raw = b"".join([chunk async for chunk in zipped.aiter_raw()])

    assert zipped.status_code == 200
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in plain.headers
    assert len(raw) < len(plain.content)
    assert gzip.decompress(raw) == plain.content


async def test_the_seat_map_of_an_unknown_event_is_a_404(http: httpx.AsyncClient) -> None:
    assert_error(await http.get("/events/evt_nope/seats"), 404, "not_found")
