"""RedisWaitingRoom and RedisRateLimiter against a real Redis: the join and admission
scripts (freeze, cap, window, skipping silent waiters, several tickers) and the shared
per-user token bucket."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as redis

from tests.factories import uid
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.adapters.redis.rate_limit import RedisRateLimiter
from ticketmaster.adapters.redis.waiting_room import RedisWaitingRoom
from ticketmaster.domain.waiting_room import AdmissionPolicy

OPEN = 0  # an on-sale time long past


def room(client: redis.Redis, namespace: str, timeout_s: float = 30.0) -> RedisWaitingRoom:
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
    redis_client: redis.Redis, namespace: str
) -> None:
    queues = room(redis_client, namespace)
    event_id = f"evt_{uid()}"
    assert await join_all(queues, event_id, 5) == [1, 2, 3, 4, 5]

    again = await queues.join(event_id, "usr_2", OPEN)
    assert (again.number, again.fresh, again.prequeue_size) == (3, False, 0)
    requeued = await queues.join(event_id, "usr_2", OPEN, requeue_from=3)
    assert (requeued.number, requeued.fresh) == (6, True)
    assert event_id in await queues.active_events()


async def test_the_pre_queue_is_frozen_once_at_the_opening(redis_client: redis.Redis, namespace: str) -> None:
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
    redis_client: redis.Redis, namespace: str
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
    redis_client: redis.Redis, namespace: str
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
    redis_client: redis.Redis, namespace: str
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


async def test_the_user_bucket_is_shared_by_every_limiter(redis_client: redis.Redis, namespace: str) -> None:
    keys = RedisKeys(namespace)
    limiters = [RedisRateLimiter(redis_client, keys, rate_per_second=1, burst=5) for _ in range(2)]
    user = f"usr_{uid()}"

    decisions = [await limiters[i % 2].take(user) for i in range(8)]

    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 3
    assert all(d.retry_after_seconds >= 1 for d in decisions[5:])
    assert (await limiters[0].take(f"usr_{uid()}")).allowed, "buckets are per user"
    assert keys.rate_limit(user).startswith(f"{namespace}:{{usr:")


async def test_heartbeats_follow_the_tickers_buckets_even_with_other_settings(
    redis_client: redis.Redis, namespace: str
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
