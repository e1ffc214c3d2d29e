"""The waiting room over real HTTP, with a real ``ticketmaster worker`` running the ticker.

One API server and one worker share a Redis namespace of this module's own, with a short
heartbeat timeout (2 s), a fast ticker (50 ms) and a small per-user write limit (5/s,
burst 10). Events set their own admission rate, cap and window in the import file.
Fairness, pre-queue shuffle, abandoners, token binding and the write rate limit.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import jwt
import pytest
import redis.asyncio as redis

from tests import factories
from tests.conftest import ServerProcess, delete_namespace, engine_env, forget_namespace
from tests.e2e.buyers import Buyer
from tests.e2e.crowd import Crowd, Reply
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.adapters.tokens import TokenSigner

HEARTBEAT_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def room_env(
    database_url: str, redis_url: str, namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    env = engine_env(database_url, redis_url, f"{namespace}wr", Path(tmp_path_factory.mktemp("room")))
    return env | {
        "TICKETMASTER_QUEUE_HEARTBEAT_TIMEOUT_SECONDS": str(HEARTBEAT_TIMEOUT_S),
        "TICKETMASTER_QUEUE_TICK_SECONDS": "0.05",
        "TICKETMASTER_MAX_IN_FLIGHT": "4096",
        "TICKETMASTER_RATE_LIMIT_PER_SECOND": "5",
        "TICKETMASTER_RATE_LIMIT_BURST": "10",
    }


@pytest.fixture(scope="module")
def room_server(room_env: dict[str, str]) -> Iterator[ServerProcess]:
    server, worker = ServerProcess(room_env), ServerProcess(room_env, command="worker")
    try:
        server.wait_ready()
        yield server
    finally:
        worker.stop()
        server.stop()
        forget_namespace(room_env)


@pytest.fixture
async def client(
    room_server: ServerProcess, redis_client: redis.Redis, namespace: str
) -> AsyncIterator[Crowd]:
    async with Crowd(room_server.url, connections=32) as c:
        yield c
    await delete_namespace(redis_client, f"{namespace}wr")


@pytest.fixture
def mint(room_env: dict[str, str]) -> Callable[[int], list[Buyer]]:
    """``n`` buyers with bearer tokens signed by the server's key (guests without the
    round trip: the waiting room needs only the token, not the user row)."""
    signer = TokenSigner(room_env["TICKETMASTER_SECRET_KEY"])

    def make(n: int) -> list[Buyer]:
        ids = [f"usr_crowd{factories.uid()}{i}" for i in range(n)]
        return [Buyer(signer.sign("access", user_id, 3600)[0], user_id) for user_id in ids]

    return make


async def guest(c: Crowd) -> Buyer:
    response = await c.post("/auth/guest")
    assert response.status_code == 201, response.text
    return Buyer(response.json()["token"], response.json()["userId"])


async def an_event(pool: asyncpg.Pool, *, opens_in_s: float = -3600, **sale: Any) -> str:
    v = factories.venue(sections=1, rows=2, seats=10)
    on_sale = (datetime.now(UTC) + timedelta(seconds=opens_in_s)).isoformat(timespec="milliseconds")
    e = factories.event(v, on_sale_at=on_sale.replace("+00:00", "Z"), waiting_room=True, **sale)
    await factories.load(pool, {"venues": [v], "events": [e]})
    return str(e["id"])


async def join(c: Crowd, buyer: Buyer, event_id: str) -> dict[str, Any]:
    response = await c.post(f"/events/{event_id}/queue", headers=buyer.auth)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def join_all(c: Crowd, buyers: list[Buyer], event_id: str) -> dict[str, dict[str, Any]]:
    bodies = await asyncio.gather(*(join(c, b, event_id) for b in buyers))
    return {b.user_id: body for b, body in zip(buyers, bodies, strict=True)}


async def status(c: Crowd, buyer: Buyer, event_id: str, queue_token: str) -> Reply:
    return await c.get(
        f"/events/{event_id}/queue/status", headers={**buyer.auth, "X-Queue-Token": queue_token}
    )


async def wait_admitted(
    c: Crowd, buyer: Buyer, event_id: str, queue_token: str, timeout_s: float = 20
) -> dict[str, Any]:
    """Poll like a browser (every 0.3 s) until admitted."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = await status(c, buyer, event_id, queue_token)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["admitted"]:
            return body
        await asyncio.sleep(0.3)
    raise AssertionError(f"{buyer.user_id} not admitted within {timeout_s} s: {body}")


async def position_drawn(c: Crowd, buyer: Buyer, event_id: str, queue_token: str) -> int:
    """Poll until the sale has opened and the ticker has shuffled the pre-queue."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        position = (await status(c, buyer, event_id, queue_token)).json()["position"]
        if position is not None:
            return int(position)
        await asyncio.sleep(0.1)
    raise AssertionError("the pre-queue was never shuffled")


def admitted_at(body: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(body["admittedAt"].replace("Z", "+00:00"))


def ticket_number(queue_token: str) -> int:
    return int(jwt.decode(queue_token, options={"verify_signature": False})["n"])


async def hold(c: Crowd, buyer: Buyer, event_id: str, seat: str, admission: str | None) -> Reply:
    headers = {**buyer.auth, "Idempotency-Key": f"k-{seat}-{time.monotonic_ns()}"}
    if admission is not None:
        headers["X-Admission-Token"] = admission
    return await c.post(f"/events/{event_id}/holds", json={"seatIds": [seat]}, headers=headers)


async def test_a_thousand_joiners_are_admitted_in_join_order_and_keep_their_places(
    client: Crowd, pool: asyncpg.Pool, mint: Callable[[int], list[Buyer]]
) -> None:
    event_id = await an_event(pool, admissionRatePerMinute=120_000, maxAdmitted=5_000)
    buyers = mint(1000)
    waves = [buyers[i : i + 250] for i in range(0, 1000, 250)]
    joined: dict[str, dict[str, Any]] = {}
    wave_positions: list[list[int]] = []
    for wave in waves:  # each wave of 250 joins concurrently, after the previous one
        bodies = await asyncio.gather(*(join(client, b, event_id) for b in wave))
        joined |= {b.user_id: body for b, body in zip(wave, bodies, strict=True)}
        wave_positions.append([body["position"] for body in bodies])

    positions = sorted(body["position"] for body in joined.values())
    assert positions == list(range(1, 1001)), "one place each, no gaps, no duplicates"
    for earlier, later in itertools.pairwise(wave_positions):
        assert max(earlier) < min(later), "a later joiner never gets ahead of an earlier one"
    rejoins = await asyncio.gather(*(join(client, b, event_id) for b in buyers[::50]))
    assert [r["position"] for r in rejoins] == [joined[b.user_id]["position"] for b in buyers[::50]]

    admissions = await asyncio.gather(
        *(wait_admitted(client, b, event_id, joined[b.user_id]["queueToken"]) for b in buyers)
    )
    by_position = sorted(admissions, key=lambda body: int(body["position"]))
    times = [admitted_at(body) for body in by_position]
    assert times == sorted(times), "admission order follows positions"
    assert times[0] < times[-1]


async def test_early_joiners_are_shuffled_once_at_the_opening_and_go_before_later_ones(
    client: Crowd, pool: asyncpg.Pool, mint: Callable[[int], list[Buyer]]
) -> None:
    event_id = await an_event(pool, opens_in_s=6, admissionRatePerMinute=60_000, maxAdmitted=5_000)
    early_buyers = mint(200)
    early = await join_all(client, early_buyers, event_id)
    assert all(body["position"] is None and body["preQueue"] for body in early.values())
    first = early_buyers[0]
    pending = (await status(client, first, event_id, early[first.user_id]["queueToken"])).json()
    assert pending["position"] is None
    assert pending["estimatedWaitSeconds"] >= 1

    late_buyers = mint(100)
    await position_drawn(client, first, event_id, early[first.user_id]["queueToken"])
    late = await join_all(client, late_buyers, event_id)

    everybody = [(b, early[b.user_id]) for b in early_buyers] + [(b, late[b.user_id]) for b in late_buyers]
    bodies = await asyncio.gather(
        *(wait_admitted(client, b, event_id, j["queueToken"]) for b, j in everybody)
    )
    admitted = {b.user_id: body for (b, _), body in zip(everybody, bodies, strict=True)}
    by_ticket = sorted(early_buyers, key=lambda b: ticket_number(early[b.user_id]["queueToken"]))
    shuffled = [admitted[b.user_id]["position"] for b in by_ticket]
    assert sorted(shuffled) == list(range(1, 201)), "the pre-queue fills places 1..200"
    assert shuffled != list(range(1, 201)), "early joiners are shuffled, not served in join order"
    assert sorted(admitted[b.user_id]["position"] for b in late_buyers) == list(range(201, 301))
    last_early = max(admitted_at(admitted[b.user_id]) for b in early_buyers)
    assert all(admitted_at(admitted[b.user_id]) >= last_early for b in late_buyers)
    again = await join(client, first, event_id)  # rejoining after the shuffle keeps the drawn place
    assert again["position"] == admitted[first.user_id]["position"]


async def test_silent_waiters_are_skipped_so_the_others_are_admitted_at_the_configured_rate(
    client: Crowd,
    pool: asyncpg.Pool,
    redis_client: redis.Redis,
    namespace: str,
    mint: Callable[[int], list[Buyer]],
) -> None:
    rate_per_s = 10
    event_id = await an_event(pool, admissionRatePerMinute=rate_per_s * 60, maxAdmitted=64)
    buyers = mint(80)
    joined = await asyncio.gather(*(join(client, b, event_id) for b in buyers))
    active = [(b, j) for b, j in zip(buyers, joined, strict=True) if j["position"] % 2 == 0]
    silent = [(b, j) for b, j in zip(buyers, joined, strict=True) if j["position"] % 2 == 1]
    assert len(active) == len(silent) == 40

    results = await asyncio.gather(
        *(wait_admitted(client, b, event_id, j["queueToken"], timeout_s=30) for b, j in active)
    )
    # Without skipping, the cap (64) would be spent on 32 silent and 32 active waiters and
    # the last 8 active ones would wait forever; with it, every active waiter gets in.
    times = sorted(admitted_at(r) for r in results)
    after_grace = [t for t in times if t >= times[0] + timedelta(seconds=HEARTBEAT_TIMEOUT_S * 1.25 + 0.5)]
    assert len(after_grace) >= 10
    span = (after_grace[-1] - after_grace[0]).total_seconds()
    measured = (len(after_grace) - 1) / span
    assert 0.6 * rate_per_s <= measured <= 1.4 * rate_per_s, (measured, len(after_grace))

    state = await redis_client.hgetall(RedisKeys(f"{namespace}wr").queue_state(event_id))
    assert int(state["a"]) == 80, "the counter passed everybody"
    silent_admitted = int(state["cum"]) - 40  # only those still in their first heartbeat timeout
    assert silent_admitted <= 20, state
    # An abandoner who comes back keeps its place, but only the ticker admits it, within the cap.
    back, ticket = max(silent, key=lambda s: int(s[1]["position"]))  # passed long after its join
    returned_at = datetime.now(UTC)
    first = (await status(client, back, event_id, ticket["queueToken"])).json()
    assert (first["admitted"], first["ahead"]) == (False, 0), first
    readmitted = await wait_admitted(client, back, event_id, ticket["queueToken"], timeout_s=10)
    assert admitted_at(readmitted) >= returned_at - timedelta(milliseconds=50), "readmitted on its return"
    expires = datetime.fromisoformat(readmitted["expiresAt"].replace("Z", "+00:00"))
    lasts = (expires - admitted_at(readmitted)).total_seconds()
    assert 600 - 2 <= lasts <= 600, "one window (the hold TTL) from the readmission, in whole seconds"
    state = await redis_client.hgetall(RedisKeys(f"{namespace}wr").queue_state(event_id))
    assert int(state["ra"]) == 1, state


async def test_admission_tokens_admit_exactly_their_user_to_exactly_their_event(
    client: Crowd, pool: asyncpg.Pool, room_env: dict[str, str]
) -> None:
    event_id = await an_event(pool, admissionRatePerMinute=60_000)
    other_event = await an_event(pool, admissionRatePerMinute=60_000)
    alice, bob = await guest(client), await guest(client)  # real users: holds reference them
    queue_token = (await join(client, alice, event_id))["queueToken"]
    admission = (await wait_admitted(client, alice, event_id, queue_token))["admissionToken"]
    secret = room_env["TICKETMASTER_SECRET_KEY"]
    expired, _ = TokenSigner(secret).sign("admission", alice.user_id, -5, evt=event_id)
    forged, _ = TokenSigner("not-the-secret-" + "z" * 40).sign("admission", alice.user_id, 600, evt=event_id)
    other_event_token = (
        await wait_admitted(
            client, alice, other_event, (await join(client, alice, other_event))["queueToken"]
        )
    )["admissionToken"]

    refused = {
        "none": await hold(client, alice, event_id, "sec0-A-1", None),
        "forged": await hold(client, alice, event_id, "sec0-A-1", forged),
        "tampered": await hold(client, alice, event_id, "sec0-A-1", admission[:-4] + "AAAA"),
        "expired": await hold(client, alice, event_id, "sec0-A-1", expired),
        "queue token": await hold(client, alice, event_id, "sec0-A-1", queue_token),
        "other event": await hold(client, alice, event_id, "sec0-A-1", other_event_token),
        "other user": await hold(client, bob, event_id, "sec0-A-1", admission),
    }
    for name, response in refused.items():
        assert response.status_code == 403, (name, response.text)
        assert response.json()["error"] == "admission_required", name

    assert (await status(client, bob, event_id, queue_token)).status_code == 403  # not bob's ticket
    assert (await status(client, alice, other_event, queue_token)).status_code == 403  # other event
    assert (await status(client, alice, event_id, "not-a-token")).status_code == 403
    mine = await hold(client, alice, event_id, "sec0-A-1", admission)
    assert mine.status_code == 201, mine.text
    assert mine.json()["seatIds"] == ["sec0-A-1"]


async def test_writes_beyond_the_per_user_rate_get_429_with_retry_after(
    client: Crowd, pool: asyncpg.Pool, mint: Callable[[int], list[Buyer]]
) -> None:
    event_id = await an_event(pool, admissionRatePerMinute=600)
    buyer, neighbour = mint(2)

    answers = []
    while len(answers) < 30 and (not answers or answers[-1].status_code != 429):
        answers.append(await client.post(f"/events/{event_id}/queue", headers=buyer.auth))

    codes = [r.status_code for r in answers]
    assert codes[:10] == [201] * 10, codes  # the burst
    assert codes[-1] == 429, codes
    assert answers[-1].json()["error"] == "rate_limited"
    retry_after = int(answers[-1].headers["retry-after"])
    assert retry_after >= 1
    assert (await client.post(f"/events/{event_id}/queue", headers=neighbour.auth)).status_code == 201
    # Right after a refusal the bucket holds less than one token (+ 5/s for a few ms): of five
    # writes at once at most one passes, so holds and cancels are limited as well.
    other_writes = await asyncio.gather(
        *(hold(client, buyer, event_id, f"sec0-A-{n}", None) for n in (2, 3, 4)),
        *(client.delete(f"/holds/hold_nothing{n}", headers=buyer.auth) for n in (1, 2)),
    )
    codes = [r.status_code for r in other_writes]
    assert codes.count(429) >= 4, codes
    assert codes[:3].count(429) >= 2
    assert codes[3:].count(429) >= 1
    assert all("retry-after" in r.headers for r in other_writes if r.status_code == 429)
    await asyncio.sleep(retry_after)  # the contract: come back after Retry-After
    assert (await client.post(f"/events/{event_id}/queue", headers=buyer.auth)).status_code == 201
