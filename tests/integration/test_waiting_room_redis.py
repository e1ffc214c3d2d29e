"""RedisWaitingRoom and RedisRateLimiter against a real Redis: the join and admission
scripts (freeze, cap, window, skipping silent waiters, readmitting those who return,
several tickers) and the shared per-user token bucket; each on one Redis node and on a
3-primary Redis Cluster."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import redis.asyncio as redis

from tests.factories import uid
from ticketmaster.adapters.redis import waiting_room as redis_waiting_room
from ticketmaster.adapters.redis.client import RedisClient
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.adapters.redis.rate_limit import RedisRateLimiter
from ticketmaster.adapters.redis.waiting_room import RedisWaitingRoom, StepResult
from ticketmaster.adapters.tokens import TokenSigner
from ticketmaster.domain.layout import EventInfo
from ticketmaster.domain.waiting_room import AdmissionPolicy, Passed
from ticketmaster.services.waiting_room import QueueStatus, WaitingRoomService

OPEN = 0  # an on-sale time long past


@pytest.fixture(params=["single", "cluster"])
def redis_client(request: pytest.FixtureRequest, redis_client: redis.Redis) -> RedisClient:
    """The session's Redis node, or its Redis Cluster (the module's tests run on both)."""
    if request.param == "single":
        return redis_client
    cluster: RedisClient = request.getfixturevalue("redis_cluster_client")
    return cluster


def room(client: RedisClient, namespace: str, timeout_s: float = 30.0) -> RedisWaitingRoom:
    return RedisWaitingRoom(client, RedisKeys(namespace), heartbeat_timeout_seconds=timeout_s)


async def join_all(queues: RedisWaitingRoom, event_id: str, count: int, on_sale_ms: int = OPEN) -> list[int]:
    return [(await queues.join(event_id, f"usr_{i}", on_sale_ms)).number for i in range(count)]


async def step_until(
    queues: RedisWaitingRoom, event_id: str, policy: AdmissionPolicy, done: int, timeout_s: float = 5.0
) -> int:
    """Step every 20 ms until the counter reaches ``done``; returns the counter."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = await queues.step(event_id, policy, OPEN)
        if result.admitted_up_to >= done:
            return result.admitted_up_to
        await asyncio.sleep(0.02)
    return (await queues.step(event_id, policy, OPEN)).admitted_up_to


async def test_numbers_are_fifo_after_the_opening_and_rejoining_keeps_the_number(
    redis_client: RedisClient, namespace: str
) -> None:
    queues = room(redis_client, namespace)
    event_id = f"evt_{uid()}"
    assert await join_all(queues, event_id, 5) == [1, 2, 3, 4, 5]

    again = await queues.join(event_id, "usr_2", OPEN)
    assert (again.number, again.fresh, again.prequeue_size) == (3, False, 0)
    requeued = await queues.join(event_id, "usr_2", OPEN, requeue_from=3)
    assert (requeued.number, requeued.fresh) == (6, True)
    assert event_id in await queues.active_events()


async def test_the_pre_queue_is_frozen_once_at_the_opening(redis_client: RedisClient, namespace: str) -> None:
    queues = room(redis_client, namespace)
    event_id = f"evt_{uid()}"
    opens = int(time.time() * 1000) + 300
    early = [await queues.join(event_id, f"usr_{i}", opens) for i in range(4)]
    assert [r.prequeue_size for r in early] == [None] * 4
    policy = AdmissionPolicy(rate_per_minute=60_000, max_admitted=100, window_seconds=60)
    assert (await queues.step(event_id, policy, opens)).closed

    await asyncio.sleep(0.35)
    late = await queues.join(event_id, "usr_late", opens)
    assert (late.number, late.prequeue_size) == (5, 4)
    view = await queues.view(event_id)
    assert view.prequeue_size == 4
    assert len(view.seed) == 32
    assert sorted(view.position(n) or 0 for n in range(1, 6)) == [1, 2, 3, 4, 5]
    await queues.step(event_id, policy, opens)
    assert (await redis_client.hget(RedisKeys(namespace).queue_state(event_id), "seed")) == view.seed


async def test_the_cap_stops_the_counter_until_admissions_lapse(
    redis_client: RedisClient, namespace: str
) -> None:
    queues = room(redis_client, namespace)
    event_id = f"evt_{uid()}"
    await join_all(queues, event_id, 30)
    policy = AdmissionPolicy(rate_per_minute=600_000, max_admitted=10, window_seconds=1)

    assert await step_until(queues, event_id, policy, 10) == 10
    await asyncio.sleep(0.2)
    stalled = await queues.step(event_id, policy, OPEN)
    assert (stalled.admitted_up_to, stalled.active) == (10, 10), "never beyond the cap"

    await asyncio.sleep(1.0)  # the first ten admissions lapse
    assert await step_until(queues, event_id, policy, 20) == 20
    view = await queues.view(event_id)
    assert view.active == 10
    assert view.expired_up_to == 10
    assert view.admitted_at_ms(5) is None
    assert view.admitted_at_ms(15) is not None


async def test_silent_waiters_are_passed_over_without_using_the_cap(
    redis_client: RedisClient, namespace: str
) -> None:
    queues = room(redis_client, namespace, timeout_s=0.3)
    event_id = f"evt_{uid()}"
    await join_all(queues, event_id, 20)
    policy = AdmissionPolicy(rate_per_minute=600_000, max_admitted=10, window_seconds=60)
    deadline = time.monotonic() + 0.6
    while time.monotonic() < deadline:  # only the even positions keep polling
        for position in range(2, 21, 2):
            queues.heartbeat(event_id, position)
        await queues.flush_heartbeats()
        await asyncio.sleep(0.05)

    result = await queues.step(event_id, policy, OPEN)
    await asyncio.sleep(0.05)
    second = await queues.step(event_id, policy, OPEN)

    assert result.admitted + second.admitted == 10
    assert result.skipped + second.skipped == 10
    assert second.admitted_up_to == 20
    assert second.active == 10


async def test_several_tickers_together_admit_at_the_configured_rate(
    redis_client: RedisClient, namespace: str
) -> None:
    event_id = f"evt_{uid()}"
    tickers = [room(redis_client, namespace) for _ in range(3)]
    await join_all(tickers[0], event_id, 500)
    policy = AdmissionPolicy(rate_per_minute=6_000, max_admitted=1_000, window_seconds=60)
    before = (await tickers[0].step(event_id, policy, OPEN)).admitted_up_to  # credits the join time
    started = time.monotonic()

    async def tick(t: RedisWaitingRoom) -> None:
        while time.monotonic() - started < 1.0:
            await t.step(event_id, policy, OPEN)
            await asyncio.sleep(0.01)

    await asyncio.gather(*(tick(t) for t in tickers))
    elapsed = time.monotonic() - started
    admitted = (await tickers[0].step(event_id, policy, OPEN)).admitted_up_to - before
    assert 100 * elapsed * 0.7 <= admitted <= 100 * (elapsed + 0.1) + 2, (admitted, elapsed)


async def test_the_user_bucket_is_shared_by_every_limiter(redis_client: RedisClient, namespace: str) -> None:
    keys = RedisKeys(namespace)
    limiters = [RedisRateLimiter(redis_client, keys, rate_per_second=1, burst=5) for _ in range(2)]
    user = f"usr_{uid()}"

    decisions = [await limiters[i % 2].take(user) for i in range(8)]

    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 3
    assert all(d.retry_after_seconds >= 1 for d in decisions[5:])
    assert (await limiters[0].take(f"usr_{uid()}")).allowed, "buckets are per user"
    assert keys.rate_limit(user).startswith(f"{namespace}:{{usr:")


async def test_heartbeats_follow_the_tickers_buckets_even_with_other_settings(
    redis_client: RedisClient, namespace: str
) -> None:
    api = room(redis_client, namespace, timeout_s=30.0)  # a misconfigured API process
    ticker = room(redis_client, namespace, timeout_s=0.3)
    event_id = f"evt_{uid()}"
    await join_all(api, event_id, 10)
    policy = AdmissionPolicy(rate_per_minute=600_000, max_admitted=100, window_seconds=60)
    await ticker.step(event_id, AdmissionPolicy(1, 100, 60), OPEN)  # publishes its bucket length
    deadline = time.monotonic() + 0.6
    while time.monotonic() < deadline:  # the join heartbeats fade, the odd positions keep polling
        for position in range(1, 11, 2):
            api.heartbeat(event_id, position)
        await api.flush_heartbeats()
        await asyncio.sleep(0.05)

    result = await ticker.step(event_id, policy, OPEN)

    assert (result.admitted_up_to, result.admitted, result.skipped) == (10, 5, 5)


# --- skipped waiters who return: the status path and the ticker together --------------------

signer = TokenSigner("integration-test-secret-" + "r" * 40)


@dataclass(frozen=True)
class OneEvent:
    info: EventInfo

    async def event_info(self, event_id: str) -> EventInfo | None:
        return self.info


@dataclass
class Sale:
    """One event's waiting room as the API processes (service) and workers (step) drive it."""

    queues: RedisWaitingRoom
    service: WaitingRoomService
    event_id: str
    policy: AdmissionPolicy
    tokens: dict[int, str]

    async def step(self) -> StepResult:
        return await self.queues.step(self.event_id, self.policy, OPEN)

    async def poll(self, positions: Iterable[int]) -> dict[int, QueueStatus]:
        """Each position polls once; the buffered heartbeats and returns are then written."""
        answers = {p: await self.service.status(f"usr_{p}", self.event_id, self.tokens[p]) for p in positions}
        await self.queues.flush_heartbeats()
        return answers

    async def poll_for(self, seconds: float, positions: Iterable[int]) -> None:
        """Keep ``positions`` polling (every 50 ms) while the others' heartbeats fade."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await self.poll(positions)
            await asyncio.sleep(0.05)


@pytest.fixture
def fresh_views(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every poll reads the queue's state anew, so a poll right after a step sees it."""
    monkeypatch.setattr(redis_waiting_room, "VIEW_TTL_S", 0.0)


async def a_sale(client: RedisClient, namespace: str, waiters: int, cap: int, window_s: int) -> Sale:
    """``waiters`` buyers usr_1..usr_n at positions 1..n; heartbeat timeout 0.3 s."""
    queues = room(client, namespace, timeout_s=0.3)
    event_id = f"evt_{uid()}"
    info = EventInfo(
        event_id=event_id,
        venue_id="ven_1",
        on_sale_at=datetime.fromtimestamp(OPEN, UTC),
        waiting_room=True,
        seat_count=100,
        admission_rate_per_minute=600_000,  # the cap, not the rate, is what binds here
        max_admitted=cap,
        admission_window_seconds=window_s,
    )
    service = WaitingRoomService(OneEvent(info), queues, signer, 600, 3600)
    tokens = {}
    for p in range(1, waiters + 1):
        joined = await service.join(f"usr_{p}", event_id)
        assert joined.position == p
        tokens[p] = joined.queue_token
    return Sale(queues, service, event_id, AdmissionPolicy(600_000, cap, window_s), tokens)


async def test_returners_are_readmitted_first_and_never_beyond_the_cap(
    redis_client: RedisClient, namespace: str, fresh_views: None
) -> None:
    cap, window_ms = 5, 1000
    sale = await a_sale(redis_client, namespace, waiters=20, cap=cap, window_s=1)
    await sale.poll_for(0.45, range(2, 21, 2))  # the odd positions go silent past the timeout

    first = await sale.step()
    assert (first.admitted_up_to, first.admitted, first.skipped) == (10, 5, 5)
    returners = [1, 3, 5, 7, 9]  # skipped; 11..19 come back before the counter reaches them
    admitted_at: dict[int, int] = {}  # position -> the "adm" of the admission tokens it got
    steps = [first]
    deadline = time.monotonic() + 10
    while len(admitted_at) < 20 and time.monotonic() < deadline:
        # Everybody not yet admitted polls (the skipped ones are back), then the ticker steps.
        for position, answer in (await sale.poll(p for p in range(1, 21) if p not in admitted_at)).items():
            assert not answer.lapsed, position
            if answer.admission_token is not None:
                claims = signer.verify(answer.admission_token, "admission")
                assert claims["adm"] == answer.admitted_at_ms
                assert abs(claims["exp"] * 1000 - (claims["adm"] + window_ms)) < 1  # to the ms
                admitted_at[position] = int(claims["adm"])
        steps.append(await sale.step())
        await asyncio.sleep(0.02)

    assert sorted(admitted_at) == list(range(1, 21)), "the returners are admitted too"
    assert all(s.active <= cap for s in steps), [s.active for s in steps]
    # No instant at which more than `cap` of the admissions the buyers hold are valid.
    for start in admitted_at.values():
        holding = [p for p, at in admitted_at.items() if at <= start < at + window_ms]
        assert len(holding) <= cap, (start, holding)
    assert sum(s.readmitted for s in steps) == 5
    assert max(admitted_at[p] for p in returners) < min(admitted_at[p] for p in range(11, 21)), (
        "returners go before the waiters the counter has not reached"
    )
    view = await sale.queues.view(sale.event_id)
    assert (view.admitted_up_to, view.active) == (20, steps[-1].active)
    await sale.queues.close()


async def test_a_returner_waits_for_the_ticker_and_a_silent_one_is_not_readmitted(
    redis_client: RedisClient, namespace: str, fresh_views: None
) -> None:
    sale = await a_sale(redis_client, namespace, waiters=2, cap=10, window_s=1)
    await sale.poll_for(0.45, [2])
    assert (await sale.step()).skipped == 1  # position 1 was silent

    back = (await sale.poll([1]))[1]
    assert (back.admitted, back.ahead, back.lapsed) == (False, 0, False), "no token before readmission"
    assert await sale.queues.passed(sale.event_id, 1) == Passed(skipped=True, returning=True)
    await asyncio.sleep(0.45)  # ... and goes silent again

    silent = await sale.step()
    assert (silent.readmitted, silent.active) == (0, 1), "a silent returner is not readmitted"
    assert (await sale.queues.passed(sale.event_id, 1)).returning is False
    assert (await sale.poll([1]))[1].admission_token is None  # back again: recorded again

    readmission = await sale.step()
    assert (readmission.readmitted, readmission.active) == (1, 2)
    readmitted = (await sale.poll([1]))[1]
    passed = await sale.queues.passed(sale.event_id, 1)
    assert readmitted.admission_token is not None
    assert readmitted.admitted_at_ms == passed.readmitted_at_ms
    assert readmitted.eta_error_seconds is None

    assert passed.readmitted_at_ms is not None
    await asyncio.sleep(max(0.0, (passed.readmitted_at_ms + 1000) / 1000 - time.time()) + 0.05)
    lapsed = await sale.step()
    assert lapsed.active == 0, "both the counter's admission and the readmission have lapsed"
    assert await sale.queues.passed(sale.event_id, 1) == Passed(), "it reads as a lapsed admission"
    assert (await sale.poll([1]))[1].lapsed
    sale.queues.returned(sale.event_id, 1)  # a late batch from another API process
    await sale.queues.flush_heartbeats()
    assert await sale.queues.passed(sale.event_id, 1) == Passed(), "never readmitted twice"
    assert (await sale.step()).readmitted == 0
    assert (await sale.service.join("usr_1", sale.event_id)).position == 3, "rejoins at the back"
    await sale.queues.close()
