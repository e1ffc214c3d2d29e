"""Client-side CPU per pipelined script call, by Redis client strategy (docs/decisions/0001).

50 concurrent callers each run a small EVALSHA in a loop against one Redis; the figure is
the calling process's CPU per call (all its threads: a client with a native core is
charged for it). Strategies: ``pipe`` (adapters/redis/pipe.py: redis-py's public
connection API, one connection, replies matched in order), ``pipeline`` (redis-py's
public pipeline per loop turn), and, when installed, ``glide`` (valkey-glide) and
``coredis``. Example: ``.venv/bin/python -m bench.redis_clients --calls 40000 --repeat 3``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import resource
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as redis
import uvloop

from ticketmaster.adapters.redis.batching import ScriptBatcher

SCRIPT = "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]); return {'OK', ARGV[2]}"
KEY = "bench:{redis-clients}:h"
Call = Callable[[list[str], list[str]], Awaitable[Any]]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _drive(call: Call, calls: int, clients: int) -> tuple[float, float]:
    """(calls per second, CPU microseconds per call) of ``clients`` closed-loop callers."""
    started = 0

    async def caller(i: int) -> None:
        nonlocal started
        while started < calls:
            started += 1
            await call([KEY], [str(i), str(started)])

    t0, c0 = time.perf_counter(), _cpu()
    await asyncio.gather(*(caller(i) for i in range(clients)))
    return calls / (time.perf_counter() - t0), (_cpu() - c0) / calls * 1e6


async def _pipe(url: str, calls: int, clients: int) -> tuple[float, float]:
    client = redis.Redis.from_url(url, decode_responses=True)
    batcher = ScriptBatcher(client, SCRIPT)

    async def call(keys: list[str], args: list[str]) -> Any:
        return await batcher(keys=keys, args=args)

    try:
        await call([KEY], ["0", "0"])
        return await _drive(call, calls, clients)
    finally:
        await client.aclose()


async def _pipeline(url: str, calls: int, clients: int) -> tuple[float, float]:
    client = redis.Redis.from_url(url, decode_responses=True, max_connections=64)
    sha = await client.script_load(SCRIPT)
    loop = asyncio.get_running_loop()
    pending: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
    tasks: set[asyncio.Task[None]] = set()

    async def flush(batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]]) -> None:
        async with client.pipeline(transaction=False) as pipe:
            for command, _ in batch:
                pipe.execute_command(*command)
            replies = await pipe.execute(raise_on_error=False)
        for (_, future), reply in zip(batch, replies, strict=True):
            future.set_result(reply)

    def kick() -> None:
        batch = pending[:]
        pending.clear()
        task = loop.create_task(flush(batch))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def call(keys: list[str], args: list[str]) -> Any:
        future = loop.create_future()
        if not pending:
            loop.call_soon(kick)
        pending.append((("EVALSHA", sha, len(keys), *keys, *args), future))
        return await future

    try:
        return await _drive(call, calls, clients)
    finally:
        await client.aclose()


async def _glide(url: str, calls: int, clients: int) -> tuple[float, float]:
    glide: Any = importlib.import_module("glide")  # optional: not a dependency of the project
    host, port = url.split("//")[1].split("/")[0].split(":")
    client = await glide.GlideClient.create(
        glide.GlideClientConfiguration([glide.NodeAddress(host, int(port))])
    )
    script = glide.Script(SCRIPT)

    async def call(keys: list[str], args: list[str]) -> Any:
        return await client.invoke_script(script, keys=keys, args=args)

    try:
        await call([KEY], ["0", "0"])
        return await _drive(call, calls, clients)
    finally:
        await client.close()


async def _coredis(url: str, calls: int, clients: int) -> tuple[float, float]:
    coredis: Any = importlib.import_module("coredis")  # optional: not a dependency of the project
    client = coredis.Redis.from_url(url, decode_responses=True)
    async with client:
        sha = await client.script_load(SCRIPT)

        async def call(keys: list[str], args: list[str]) -> Any:
            return await client.evalsha(sha, keys=keys, args=args)

        return await _drive(call, calls, clients)


STRATEGIES = {"pipe": _pipe, "pipeline": _pipeline, "glide": _glide, "coredis": _coredis}


async def main(args: argparse.Namespace) -> None:
    results: dict[str, list[tuple[float, float]]] = {}
    for _ in range(args.repeat):
        for name in args.strategies:
            try:
                results.setdefault(name, []).append(await STRATEGIES[name](args.redis_url, args.calls, 50))
            except ImportError:
                results.pop(name, None)
    print("strategy    calls/s (median)   client CPU us/call (median; per round)")
    for name, rounds in results.items():
        rates, cpu = [r for r, _ in rounds], [c for _, c in rounds]
        per_round = " ".join(f"{c:.1f}" for c in cpu)
        print(f"{name:10s} {statistics.median(rates):10.0f}   {statistics.median(cpu):8.1f}  ({per_round})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--calls", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=list(STRATEGIES))
    uvloop.run(main(parser.parse_args()))
