"""Best available through HTTP (API.md "Holds", "Best available"): the gate picks, holds
and answers 201 with the seats; every 422 and 409 case; idempotency with defaults applied;
the per-buyer limit, admission and not_on_sale as for named seats; and a crowd of 500
buyers selling out a 600-seat event by best available alone."""

from __future__ import annotations

import asyncio
import random
import secrets
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as redis

from tests import factories
from tests.conftest import ServerProcess
from tests.e2e.buyers import Buyer, held, hold, new_buyer, new_buyers, seat_statuses
from tests.e2e.crowd import Crowd
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.domain.best_available import SeatSearch, choose
from ticketmaster.domain.layout import SectionLayout, VenueLayout


async def best(
    http: httpx.AsyncClient, buyer: Buyer, event_id: str, body: dict[str, Any], key: str | None = None
) -> httpx.Response:
    headers = {**buyer.auth, "Idempotency-Key": key or secrets.token_hex(8)}
    return await http.post(f"/events/{event_id}/holds", json=body, headers=headers)


async def an_event(pool: asyncpg.Pool, **event: Any) -> dict[str, Any]:
    """Sections "front" (tier pt_front) and "back" (pt_back), two rows of 6 seats each."""
    venue = {
        "id": f"ven_{factories.uid()}",
        "name": "Hall",
        "city": "NYC",
        "sections": [
            {"id": sid, "name": sid, "rows": [{"id": "A", "seats": 6}, {"id": "B", "seats": 6}]}
            for sid in ("front", "back")
        ],
    }
    e = factories.event(venue, **event)
    e["priceTiers"] = [
        {"id": f"pt_{sid}", "name": sid, "priceCents": 100, "currency": "USD", "sections": [sid]}
        for sid in ("front", "back")
    ]
    await factories.load(pool, {"venues": [venue], "events": [e]})
    return e


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == code, body
    assert body["message"]
    return body


async def test_the_gate_picks_the_best_seats_and_answers_201_with_them(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    e = await an_event(pool)
    buyer = await new_buyer(http)

    pair = await best(http, buyer, e["id"], {"best": {"count": 2}})
    three = await best(http, buyer, e["id"], {"best": {"count": 3, "sectionIds": ["back"]}})
    loose = await best(
        http, buyer, e["id"], {"best": {"count": 2, "adjacent": False, "priceTierIds": ["pt_front"]}}
    )

    assert pair.status_code == 201, pair.text
    body = pair.json()
    assert set(body) >= {"holdId", "eventId", "seatIds", "expiresAt", "status"}
    assert body["status"] == "ACTIVE"
    # The middle of the front row: seats 3-4 of 6.
    assert body["seatIds"] == ["front-A-3", "front-A-4"]
    # 2-4 would be as central as 1-3 and 4-6 but strand seat 1: 1-3, the lower of the two.
    assert three.json()["seatIds"] == ["back-A-1", "back-A-2", "back-A-3"]
    # Front row now 1 2 _ _ 5 6: one by one, the next best are 2 and 5 (equally central).
    assert sorted(loose.json()["seatIds"]) == ["front-A-2", "front-A-5"]
    statuses = await seat_statuses(http, e["id"])
    assert held(statuses) == {
        "front-A-2",
        "front-A-3",
        "front-A-4",
        "front-A-5",
        "back-A-1",
        "back-A-2",
        "back-A-3",
    }
    rows = await pool.fetch("SELECT id FROM holds WHERE event_id = $1", e["id"])
    assert {r["id"] for r in rows} == {r.json()["holdId"] for r in (pair, three, loose)}


async def test_the_same_key_and_the_same_parsed_body_replay_the_hold(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    e = await an_event(pool)
    buyer = await new_buyer(http)
    first = await best(http, buyer, e["id"], {"best": {"count": 2}}, key="k-best")
    assert first.status_code == 201

    spelled_out = await best(
        http, buyer, e["id"], {"best": {"count": 2, "adjacent": True, "sectionIds": None}}, key="k-best"
    )
    other = await best(http, buyer, e["id"], {"best": {"count": 2, "adjacent": False}}, key="k-best")
    named = await best(http, buyer, e["id"], {"seatIds": first.json()["seatIds"]}, key="k-best")

    assert spelled_out.status_code == 201
    assert spelled_out.json() == first.json()
    assert_error(other, 422, "idempotency_conflict")
    assert_error(named, 422, "idempotency_conflict")
    assert await pool.fetchval("SELECT count(*) FROM holds WHERE event_id = $1", e["id"]) == 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"seatIds": ["front-A-1"], "best": {"count": 1}},
        {"best": {"count": 0}},
        {"best": {"count": 9}},
        {"best": {"count": "2"}},
        {"best": {"count": 2, "adjacent": "yes"}},
        {"best": {"count": 2, "priceTierIds": ["pt_nope"]}},
        {"best": {"count": 2, "sectionIds": ["front", "nowhere"]}},
        {"best": [2]},
    ],
)
async def test_a_malformed_request_is_422_and_holds_nothing(
    http: httpx.AsyncClient, pool: asyncpg.Pool, body: dict[str, Any]
) -> None:
    e = await an_event(pool)
    buyer = await new_buyer(http)

    assert_error(await best(http, buyer, e["id"], body), 422, "invalid_request")
    assert await pool.fetchval("SELECT count(*) FROM holds WHERE event_id = $1", e["id"]) == 0


async def test_when_nothing_fits_the_answer_is_409_naming_no_seat(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    e = await an_event(pool)
    buyer, rival = await new_buyers(http, 2)
    # The front section keeps 7 seats, no 4 of them adjacent: x x x x _ _ and _ _ _ x _ _.
    taken = await hold(
        http, rival, e["id"], ["front-A-1", "front-A-2", "front-A-3", "front-A-4", "front-B-4"]
    )
    assert taken.status_code == 201, taken.text

    too_long = await best(http, buyer, e["id"], {"best": {"count": 4, "sectionIds": ["front"]}})
    too_many = await best(
        http, buyer, e["id"], {"best": {"count": 8, "adjacent": False, "priceTierIds": ["pt_front"]}}
    )
    empty = await best(
        http, buyer, e["id"], {"best": {"count": 1, "sectionIds": ["back"], "priceTierIds": ["pt_front"]}}
    )
    elsewhere = await best(http, buyer, e["id"], {"best": {"count": 4}})

    for refused in (too_long, too_many, empty):
        body = assert_error(refused, 409, "seats_unavailable")
        assert body["seatIds"] == []
    assert elsewhere.status_code == 201
    assert elsewhere.json()["seatIds"] == [f"back-A-{n}" for n in range(1, 5)]


async def test_the_per_buyer_limit_applies_to_best_available(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    e = await an_event(pool)
    buyer = await new_buyer(http)
    assert (await best(http, buyer, e["id"], {"best": {"count": 4}})).status_code == 201
    assert (
        await best(http, buyer, e["id"], {"best": {"count": 4, "sectionIds": ["back"]}})
    ).status_code == 201

    over = await best(http, buyer, e["id"], {"best": {"count": 1}})

    assert_error(over, 409, "hold_limit")
    assert len(held(await seat_statuses(http, e["id"]))) == 8


async def test_before_the_sale_and_behind_a_waiting_room_best_available_is_refused(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    early = await an_event(pool, when="2099-06-01T20:00:00Z", on_sale_at="2099-01-01T10:00:00Z")
    queued = await an_event(pool, waiting_room=True)
    buyer = await new_buyer(http)

    assert_error(await best(http, buyer, early["id"], {"best": {"count": 1}}), 403, "not_on_sale")
    assert_error(await best(http, buyer, queued["id"], {"best": {"count": 1}}), 403, "admission_required")
    assert_error(await best(http, buyer, "evt_nope", {"best": {"count": 1}}), 404, "not_found")
    assert held(await seat_statuses(http, early["id"])) == set()
    assert held(await seat_statuses(http, queued["id"])) == set()


# --- a sell-out by best available alone ------------------------------------------------------

SECTIONS, ROWS, SEATS_PER_ROW = 3, 4, 50  # 600 seats
CLIENTS = 500


async def test_five_hundred_buyers_sell_out_six_hundred_seats_by_best_available(
    server: ServerProcess, pool: asyncpg.Pool, redis_client: redis.Redis, namespace: str
) -> None:
    """No seat in two holds, every seat held at the end, and no 409 while a fitting block
    existed. The last is established exactly from the seat change log: every hold is one
    entry there, under the version it made, and a 409 says the version it was decided at,
    so the seats taken at that moment are known. The same log shows that every 201 was the
    reference's best choice at the version just before it."""
    v = factories.venue(sections=SECTIONS, rows=ROWS, seats=SEATS_PER_ROW)
    e = factories.event(v)
    await factories.load(pool, {"venues": [v], "events": [e]})
    event_id = e["id"]
    rng = random.Random(13)
    granted: list[tuple[int, list[str]]] = []  # (count, seats)
    refused: list[tuple[int, int]] = []  # (count, version)

    async with Crowd(server.url, connections=64) as crowd:
        buyers = await asyncio.gather(*(crowd.post("/auth/guest") for _ in range(CLIENTS)))
        tokens = [b.json()["token"] for b in buyers]

        async def shopper(token: str) -> None:
            """Ask for 1-4 seats; after a 409 ask for one fewer; stop at a 409 for one seat."""
            count = rng.randint(1, 4)
            while count:
                headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": secrets.token_hex(8)}
                reply = await crowd.post(f"/events/{event_id}/holds", headers, {"best": {"count": count}})
                while reply.status_code == 503:  # shed: retry the same request later
                    await asyncio.sleep(float(reply.headers.get("retry-after", "1")))
                    reply = await crowd.post(f"/events/{event_id}/holds", headers, {"best": {"count": count}})
                body = reply.json()
                if reply.status_code == 201:
                    granted.append((count, body["seatIds"]))
                    count = rng.randint(1, 4)
                    continue
                assert reply.status_code == 409, reply.text
                if body["error"] == "hold_limit":
                    return
                assert (body["error"], body["seatIds"]) == ("seats_unavailable", []), body
                refused.append((count, int(body["version"])))
                count -= 1

        await asyncio.gather(*(shopper(t) for t in tokens))

    all_seats = {
        f"sec{s}-{chr(65 + r)}-{n}" for s in range(SECTIONS) for r in range(ROWS) for n in range(1, 51)
    }
    taken = [seat for _, seats in granted for seat in seats]
    assert len(taken) == len(set(taken)), "a seat is in two holds"
    assert set(taken) == all_seats, "sold out means every seat held"
    assert all(len(seats) == count for count, seats in granted)
    rows = await pool.fetch("SELECT seat_id FROM hold_seats WHERE event_id = $1", event_id)
    assert sorted(r["seat_id"] for r in rows) == sorted(taken)

    # Replay the change log: the seats held at each version.
    log = await redis_client.xrange(RedisKeys(namespace).seat_changes(event_id))
    assert "*reset" in log[0][1], "the log covers the whole sale"
    start = int(log[0][0].split("-")[0])
    layout = VenueLayout(
        v["id"],
        tuple(
            SectionLayout(s["id"], s["id"], tuple((r["id"], r["seats"]) for r in s["rows"]))
            for s in v["sections"]
        ),
    )
    ranked = layout.ranked_rows
    whole = ((0, len(ranked) - 1),)
    taken_at: dict[int, frozenset[str]] = {start: frozenset()}
    chosen_at: dict[int, frozenset[str]] = {}
    current: frozenset[str] = frozenset()
    for entry_id, fields in log[1:]:
        version = int(entry_id.split("-")[0])
        assert version == max(taken_at) + 1, "one entry per version"
        chosen_at[version] = frozenset(fields)
        current |= frozenset(fields)
        taken_at[version] = current

    def free(version: int) -> dict[int, list[bool]]:
        held_then = taken_at[version]
        return {r.index: [r.seat(n) not in held_then for n in range(1, r.seats + 1)] for r in ranked}

    assert len(chosen_at) == len(granted)
    for version, seats in chosen_at.items():
        expected = choose(ranked, free(version - 1), SeatSearch(len(seats), True, whole))
        assert expected is not None
        assert frozenset(expected) == seats, f"version {version}: {sorted(seats)} instead of {expected}"
    assert refused, "the crowd ran out of seats"
    for count, version in refused:
        assert choose(ranked, free(version), SeatSearch(count, True, whole)) is None, (
            f"409 for {count} at version {version} while a block fitted"
        )
