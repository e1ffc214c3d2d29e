"""ScriptBatcher: concurrent script calls share round trips, each gets its own answer,
and a server that lost its script cache is handled."""

from __future__ import annotations

import asyncio

import redis.asyncio as redis
from redis.exceptions import ResponseError

from ticketmaster.adapters.redis.batching import ScriptBatcher

ECHO_INCR = """
-- KEYS[1] counter; ARGV[1] tag. Returns {tag, new counter value}.
return {ARGV[1], redis.call('INCR', KEYS[1])}
"""


async def test_concurrent_calls_each_get_their_own_reply(redis_client: redis.Redis, namespace: str) -> None:
    key = f"{namespace}:batch-counter"
    batcher = ScriptBatcher(redis_client, ECHO_INCR, max_batch=32)

    replies = await asyncio.gather(*(batcher(keys=[key], args=[f"t{i}"]) for i in range(200)))

    assert [tag for tag, _ in replies] == [f"t{i}" for i in range(200)]
    assert sorted(int(n) for _, n in replies) == list(range(1, 201))


async def test_a_flushed_script_cache_is_reloaded(redis_client: redis.Redis, namespace: str) -> None:
    key = f"{namespace}:batch-counter-2"
    batcher = ScriptBatcher(redis_client, ECHO_INCR)
    assert (await batcher(keys=[key], args=["a"]))[1] == 1
    await redis_client.script_flush()

    replies = await asyncio.gather(*(batcher(keys=[key], args=["b"]) for _ in range(5)))

    assert sorted(int(n) for _, n in replies) == [2, 3, 4, 5, 6]


async def test_a_script_error_reaches_only_its_caller(redis_client: redis.Redis, namespace: str) -> None:
    failing = ScriptBatcher(redis_client, "return redis.call('INCR', KEYS[1])")
    good, bad = f"{namespace}:counter-ok", f"{namespace}:not-a-number"
    await redis_client.set(bad, "x")

    results = await asyncio.gather(
        failing(keys=[good], args=[]), failing(keys=[bad], args=[]), return_exceptions=True
    )

    assert results[0] == 1
    assert isinstance(results[1], Exception)


FAILS_ON_ODD = """
-- ARGV[1] a number, ARGV[2] a float, ARGV[3] text (any bytes, UTF-8). Fails for odd numbers.
if tonumber(ARGV[1]) % 2 == 1 then
  return redis.error_reply('ODD ' .. ARGV[1])
end
return {ARGV[1], ARGV[2], ARGV[3], #KEYS}
"""


async def test_a_failing_run_fails_alone_and_arguments_arrive_intact(
    redis_client: redis.Redis, namespace: str
) -> None:
    batcher = ScriptBatcher(redis_client, FAILS_ON_ODD)
    keys = [f"{namespace}:a", f"{namespace}:b"]

    replies = await asyncio.gather(
        *(batcher(keys=keys, args=[i, i + 0.25, f"tëxt\r\n{i}"]) for i in range(20)),
        return_exceptions=True,
    )

    for i, reply in enumerate(replies):
        if i % 2:
            assert isinstance(reply, ResponseError)
            assert str(reply) == f"ODD {i}"
        else:
            assert reply == [str(i), repr(i + 0.25), f"tëxt\r\n{i}", 2]
    # The connection was left clean: a later batch reads its own replies.
    assert await batcher(keys=keys, args=[2, 0.5, "again"]) == ["2", "0.5", "again", 2]
