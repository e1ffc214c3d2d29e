"""ScriptBatcher: concurrent calls of one Lua script share pipelined round trips.

Like the group commit of hold rows, this turns N concurrent hold attempts into one write
and one read on one pooled connection instead of N of each: the client-side cost per
command (pool checkout, socket I/O, awaits) is what limits a Python process long before
Redis is busy. Atomicity is unchanged: each EVALSHA in the pipeline is still its own
script run; a pipeline is not a transaction and does not need to be.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis
from redis.exceptions import NoScriptError

Item = tuple[list[str], Sequence[str | int | float], "asyncio.Future[Any]"]


class ScriptBatcher:
    def __init__(self, client: redis.Redis, source: str, *, max_batch: int = 256) -> None:
        self._client = client
        self._source = source
        self._sha = hashlib.sha1(source.encode()).hexdigest()
        self._max_batch = max_batch
        self._pending: list[Item] = []
        self._flushing = False
        self._task: asyncio.Task[None] | None = None  # kept so the flush is not collected

    async def __call__(self, *, keys: list[str], args: Sequence[str | int | float]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((keys, args, future))
        if not self._flushing:
            self._flushing = True
            self._task = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                await self._send(batch)
        finally:
            self._flushing = False

    async def _send(self, batch: list[Item]) -> None:
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for keys, args, _ in batch:
                    pipe.evalsha(self._sha, len(keys), *keys, *args)
                results = await pipe.execute(raise_on_error=False)
        except Exception as exc:
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        missing: list[Item] = []
        for item, result in zip(batch, results, strict=True):
            future = item[2]
            if future.done():  # the caller gave up (timeout); the script may still have run
                continue
            if isinstance(result, NoScriptError):
                missing.append(item)
            elif isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
        if missing:  # the server lost its script cache (restart, SCRIPT FLUSH): load, resend
            await self._client.script_load(self._source)
            self._pending[:0] = missing
