"""ScriptBatcher: concurrent calls of one Lua script share pipelined round trips.

Like the group commit of hold rows, this turns N concurrent hold attempts into one write
and one read on one pooled connection instead of N of each: the client-side cost per
command (pool checkout, socket I/O, awaits) is what limits a Python process long before
Redis is busy. Atomicity is unchanged: each EVALSHA in the pipeline is still its own
script run; a pipeline is not a transaction and does not need to be.

The batch is encoded here (RESP is a few lines) and written on a pooled connection of the
client: redis-py's generic pipeline spent more CPU packing arguments than the scripts
cost Redis to run.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis
from redis.exceptions import NoScriptError, ResponseError

Item = tuple[list[str], Sequence[str | int | float], "asyncio.Future[Any]"]


def _bulk(value: str | int | float) -> bytes:
    """One RESP bulk string; numbers as redis-py would send them."""
    raw = (
        value.encode()
        if isinstance(value, str)
        else (repr(value) if isinstance(value, float) else str(value)).encode()
    )
    return b"$%d\r\n%b\r\n" % (len(raw), raw)


def pack_evalsha(sha: str, keys: Sequence[str], args: Sequence[str | int | float]) -> bytes:
    """``EVALSHA sha numkeys key... arg...`` as RESP."""
    parts = [b"*%d\r\n$7\r\nEVALSHA\r\n" % (3 + len(keys) + len(args)), _bulk(sha), _bulk(len(keys))]
    parts += [_bulk(k) for k in keys]
    parts += [_bulk(a) for a in args]
    return b"".join(parts)


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

    async def _roundtrip(self, batch: list[Item]) -> list[Any]:
        """Send the batch in one write and read one reply per script run (a script error is
        its reply, not the batch's)."""
        pool = self._client.connection_pool
        conn = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await conn.send_packed_command(
                b"".join(pack_evalsha(self._sha, keys, args) for keys, args, _ in batch), check_health=False
            )
            results: list[Any] = []
            for _ in batch:
                try:
                    results.append(await conn.read_response())
                except ResponseError as exc:
                    results.append(exc)
            return results
        except BaseException:
            await conn.disconnect()  # replies may be pending on it: never reuse it
            raise
        finally:
            await pool.release(conn)

    async def _send(self, batch: list[Item]) -> None:
        try:
            results = await self._roundtrip(batch)
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
