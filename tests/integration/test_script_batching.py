"""ScriptBatcher and its CommandPipe: concurrent script calls share round trips, each gets
its own answer, a server that lost its script cache is handled, and a hung server or a
lost connection fails the waiting calls without wedging the pipe."""

from __future__ import annotations

import asyncio
import hashlib
import time

import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from ticketmaster.adapters.redis.batching import ScriptBatcher, pack_evalsha
from ticketmaster.adapters.redis.pipe import CommandPipe

ECHO_INCR = """
-- KEYS[1] counter; ARGV[1] tag. Returns {tag, new counter value}.
return {ARGV[1], redis.call('INCR', KEYS[1])}
"""


async def test_concurrent_calls_each_get_their_own_reply(redis_client: redis.Redis, namespace: str) -> None:
    key = f"{namespace}:batch-counter"
    batcher = ScriptBatcher(redis_client, ECHO_INCR)

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


async def test_a_silent_server_times_out_every_waiting_call_then_the_pipe_recovers(
    redis_client: redis.Redis, namespace: str
) -> None:
    pipe = CommandPipe(redis_client, timeout=0.2)
    key = f"{namespace}:paused-counter"
    incr = pack_evalsha(hashlib.sha1(INCR.encode()).hexdigest(), [key], [])
    await redis_client.script_load(INCR)
    assert await pipe.call(incr) == 1

    # Redis stops answering writes (scripts included) for 1.5 s: a hung server, for real.
    await redis_client.execute_command("CLIENT", "PAUSE", 1500, "WRITE")
    try:
        started = time.monotonic()
        results = await asyncio.gather(*(pipe.call(incr) for _ in range(10)), return_exceptions=True)
        waited = time.monotonic() - started
    finally:
        await redis_client.execute_command("CLIENT", "UNPAUSE")

    assert all(isinstance(r, TimeoutError) for r in results), results
    assert waited < 1.0  # the pipe's bound, not the pause, ended the wait
    assert int(await pipe.call(incr)) >= 2  # a fresh connection after the unanswered one


async def test_a_lost_connection_fails_the_waiting_calls_and_the_next_call_reconnects(
    redis_client: redis.Redis, namespace: str
) -> None:
    pipe = CommandPipe(redis_client)
    key = f"{namespace}:killed-counter"
    incr = pack_evalsha(hashlib.sha1(INCR.encode()).hexdigest(), [key], [])
    await redis_client.script_load(INCR)
    assert await pipe.call(incr) == 1
    address = await pipe_client_address(redis_client, pipe)

    await redis_client.execute_command("CLIENT", "PAUSE", 300, "WRITE")  # so calls are waiting
    waiting = [asyncio.ensure_future(pipe.call(incr)) for _ in range(5)]
    await asyncio.sleep(0)  # let them queue on the pipe
    await redis_client.execute_command("CLIENT", "KILL", "ADDR", address)
    results = await asyncio.gather(*waiting, return_exceptions=True)
    await redis_client.execute_command("CLIENT", "UNPAUSE")

    assert all(isinstance(r, RedisConnectionError) for r in results), results
    assert int(await pipe.call(incr)) >= 2
    assert await pipe_client_address(redis_client, pipe) != address


async def pipe_client_address(client: redis.Redis, pipe: CommandPipe) -> str:
    """The address of the pipe's connection as Redis sees it (found by its CLIENT SETNAME)."""
    clients = [c for c in await client.client_list() if c["name"] == pipe.name]
    assert len(clients) == 1, clients
    return str(clients[0]["addr"])


INCR = "return redis.call('INCR', KEYS[1])"
