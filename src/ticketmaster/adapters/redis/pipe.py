"""CommandPipe: hot-path commands pipelined on one connection, replies matched in order.

Contract:
- ``call(packed)`` queues one RESP-encoded command and returns its reply (decoded like the
  client's), or raises the command's error reply (``NoScriptError`` for NOSCRIPT,
  ``ResponseError`` otherwise) to that caller alone.
- Every command queued in one turn of the event loop leaves in one write; Redis answers
  the commands of a connection in order, so replies are handed out first in, first out by
  one reader. No pool checkout, pipeline object or task per command: that per-command
  cost is what limited a Python process on the hold path long before Redis was busy.
- Only redis-py's public connection API is used (``get_connection``,
  ``send_packed_command``, ``read_response``): the connection is borrowed from the
  client's pool (or, on a Redis Cluster, from one node: adapters/redis/cluster_pipes.py)
  for the pipe's life, so the pool authenticates and selects the database
  as for any command, and it is (re)borrowed on the first call after a failure. It is
  named ``name`` (CLIENT SETNAME) so operators and tests can find it.
- Failure is all-or-nothing per connection: when it breaks, or its oldest command has
  waited ``timeout`` seconds, every waiting caller gets ``ConnectionError`` or
  ``TimeoutError`` and the connection is dropped (its later replies could not be matched).
  A command that failed that way may or may not have run, as with any lost reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import os
import time
import weakref
from collections import deque
from typing import Any, Protocol

import redis.asyncio as redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from ticketmaster.adapters.redis.client import OPERATION_TIMEOUT_S

_Waiter = tuple["asyncio.Future[Any]", float]
_names = itertools.count(1)
PING = b"*1\r\n$4\r\nPING\r\n"


class ConnectionSource(Protocol):
    """Where a pipe borrows its connection: a client's pool, or one Cluster node."""

    async def get_connection(self) -> AbstractConnection: ...
    async def release(self, connection: AbstractConnection) -> None: ...


class CommandPipe:
    def __init__(
        self, client: redis.Redis | ConnectionSource, *, timeout: float = OPERATION_TIMEOUT_S
    ) -> None:
        self._pool: ConnectionSource = client.connection_pool if isinstance(client, redis.Redis) else client
        self._timeout = timeout
        self.name = f"tm-pipe-{os.getpid()}-{next(_names)}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: AbstractConnection | None = None
        self._opening: asyncio.Future[None] | None = None
        self._out: list[bytes] = []
        self._waiting: deque[_Waiter] = deque()
        self._flush_due = False
        self._reader: asyncio.Task[None] | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def call(self, packed: bytes, key: str | None = None) -> Any:
        """The reply to ``packed``; ``key`` (the command's first key) routes it on a Cluster
        and is not needed here."""
        if self._conn is None or self._loop is not asyncio.get_running_loop():
            await self._open()
        loop = self._loop
        assert loop is not None
        future = loop.create_future()
        self._out.append(packed)
        self._waiting.append((future, time.monotonic() + self._timeout))
        if not self._flush_due:
            self._flush_due = True
            loop.call_soon(self._flush)
        if self._watchdog is None:
            self._watchdog = loop.call_later(self._timeout / 4, self._check_deadline)
        return await future

    async def _open(self) -> None:
        """Borrow and name a connection (one caller does it; the others wait for it)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or the client moved to another event loop
            self._loop, self._conn, self._opening, self._reader = loop, None, None, None
            self._out.clear()
            self._waiting.clear()
            self._flush_due, self._watchdog = False, None
        if self._opening is not None:
            await asyncio.shield(self._opening)
            return
        self._opening = loop.create_future()
        try:
            conn = await self._pool.get_connection()
            try:
                async with asyncio.timeout(self._timeout):
                    await conn.send_command("CLIENT", "SETNAME", self.name)
                    await conn.read_response()
            except Exception as exc:
                await self._give_back(conn)
                if isinstance(exc, RedisError | TimeoutError):
                    raise
                # The connection broke under the handshake: on a Cluster, redis-py disconnects
                # a failed node's connections, the one borrowed here too, so the write finds
                # no stream (AttributeError) or, on uvloop, a closed one (RuntimeError).
                raise RedisConnectionError(f"opening a connection to Redis failed: {exc!r}") from exc
            except BaseException:
                await self._give_back(conn)
                raise
            self._conn = conn
            self._reader = self._spawn(self._read(conn))
            self._opening.set_result(None)
        except BaseException as exc:
            self._opening.set_exception(exc)
            self._opening.exception()  # retrieved: the callers waiting on it get it
            raise
        finally:
            self._opening = None

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        assert self._loop is not None
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _flush(self) -> None:
        self._flush_due = False
        conn = self._conn
        if self._out and conn is not None:
            data = b"".join(self._out)
            self._out.clear()
            self._spawn(self._send(conn, data))

    async def _send(self, conn: AbstractConnection, data: bytes) -> None:
        try:
            await conn.send_packed_command(data, check_health=False)
        except Exception as exc:
            self._fail(conn, RedisConnectionError(f"writing to Redis failed: {exc}"))

    async def _read(self, conn: AbstractConnection) -> None:
        """Hand each reply to the oldest waiting caller, until the connection fails."""
        while True:
            try:
                reply = await conn.read_response(timeout=math.inf, disconnect_on_error=False)
            except ResponseError as exc:  # an error reply: that caller's alone
                self._deliver(exc, failed=True)
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._fail(conn, RedisConnectionError(f"Redis closed the connection: {exc}"))
                return
            self._deliver(reply, failed=False)

    def _deliver(self, reply: Any, *, failed: bool) -> None:
        if not self._waiting:
            return  # a reply to a call already failed with its connection
        future, _ = self._waiting.popleft()
        if future.done():  # its caller gave up (cancelled)
            return
        if failed:
            future.set_exception(reply)
        else:
            future.set_result(reply)

    def _fail(self, conn: AbstractConnection, failure: Exception) -> None:
        """Fail every waiting caller and drop the connection; the next call borrows another."""
        if self._conn is not conn:
            return
        self._conn = None
        self._out.clear()
        while self._waiting:
            future, _ = self._waiting.popleft()
            if not future.done():
                future.set_exception(failure)
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
        self._spawn(self._give_back(conn))

    async def _give_back(self, conn: AbstractConnection) -> None:
        with contextlib.suppress(Exception):  # the client may be closing it at the same time
            await conn.disconnect()
            await self._pool.release(conn)

    def _check_deadline(self) -> None:
        self._watchdog = None
        if not self._waiting:
            return
        if self._waiting[0][1] <= time.monotonic() and self._conn is not None:
            self._fail(self._conn, TimeoutError("Redis did not answer in time"))
            return
        assert self._loop is not None
        self._watchdog = self._loop.call_later(self._timeout / 4, self._check_deadline)

    def drop(self, reason: str) -> None:
        """Fail the waiting callers and give the connection back (a Cluster node that left
        the client's map); a later call borrows a new one."""
        if self._conn is not None:
            self._fail(self._conn, RedisConnectionError(reason))

    async def prime(self) -> None:
        """Open the connection ahead of need (the on-sale warm-up)."""
        await self.call(PING)


_PIPES: weakref.WeakKeyDictionary[redis.Redis, CommandPipe] = weakref.WeakKeyDictionary()


def pipe_for(client: redis.Redis) -> CommandPipe:
    """The client's pipe, shared by every script batcher of this process using it."""
    pipe = _PIPES.get(client)
    if pipe is None:
        pipe = _PIPES[client] = CommandPipe(client)
    return pipe
