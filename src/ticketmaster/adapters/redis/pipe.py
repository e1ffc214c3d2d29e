"""CommandPipe: hot-path commands pipelined on one connection, replies matched in order.

Contract:
- ``call(packed)`` queues one RESP-encoded command and returns its reply (decoded as
  UTF-8, like the shared client), or raises the command's error reply (``NoScriptError``
  for NOSCRIPT, ``ResponseError`` otherwise) to that caller alone.
- Every command queued in one turn of the event loop leaves in one write; Redis answers
  commands of a connection in order, so replies are handed out first in, first out, in
  the callback that received them. No task, pool checkout or await per command: that
  per-command cost is what limited a Python process on the hold path long before Redis
  was busy.
- The connection is borrowed from the client's pool for the pipe's life, so the pool
  authenticates and selects the database as for any command, and closing the client
  closes it too; its transport's bytes go to this module's protocol instead of redis-py's
  reader. It is (re)borrowed on the first call after a failure.
- Failure is all-or-nothing per connection: when it breaks, or its oldest command has
  waited ``timeout`` seconds, every waiting caller gets ``ConnectionError`` or
  ``TimeoutError`` and the connection is dropped (its later replies could not be matched).
  A command that failed that way may or may not have run, as with any lost reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections import deque
from typing import Any

import hiredis
import redis.asyncio as redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

from ticketmaster.adapters.redis.client import OPERATION_TIMEOUT_S

_Waiter = tuple["asyncio.Future[Any]", float]


def _error(reply: hiredis.ReplyError) -> ResponseError:
    message = str(reply)
    if message.startswith("NOSCRIPT"):
        return NoScriptError(message.partition(" ")[2])
    return ResponseError(message)


class _Replies(asyncio.Protocol):
    """Takes the borrowed connection's bytes in place of redis-py's stream reader, so each
    reply resolves its caller in the callback that received it (no reader task to wake)."""

    def __init__(self, pipe: CommandPipe, conn: AbstractConnection, stream: asyncio.BaseProtocol) -> None:
        self._pipe = pipe
        self._conn = conn
        self._stream = stream  # redis-py's protocol: told when the connection ends, as before
        self._parser = hiredis.Reader(encoding="utf-8", errors="replace")

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        parser.feed(data)
        reply = parser.gets()
        while reply is not False:
            self._pipe._deliver(reply)
            reply = parser.gets()

    def eof_received(self) -> bool:
        return False  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._stream.connection_lost(exc)  # lets redis-py's disconnect() finish waiting
        self._pipe._lost(self._conn)


class CommandPipe:
    def __init__(self, client: redis.Redis, *, timeout: float = OPERATION_TIMEOUT_S) -> None:
        self._pool = client.connection_pool
        self._timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: AbstractConnection | None = None
        self._transport: asyncio.WriteTransport | None = None
        self._opening: asyncio.Future[None] | None = None
        self._out: list[bytes] = []
        self._waiting: deque[_Waiter] = deque()
        self._flush_due = False
        self._watchdog: asyncio.TimerHandle | None = None
        self._failure: Exception | None = None
        self._cleanups: set[asyncio.Task[None]] = set()

    async def call(self, packed: bytes) -> Any:
        if self._transport is None or self._loop is not asyncio.get_running_loop():
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
        """Borrow a connection (one caller does it; the others wait for it)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or the client moved to another event loop
            self._loop, self._conn, self._transport, self._opening = loop, None, None, None
            self._out.clear()
            self._waiting.clear()
            self._flush_due, self._watchdog = False, None
        if self._opening is None:
            self._opening = loop.create_future()
            try:
                conn = await self._pool.get_connection()  # type: ignore[no-untyped-call]
                # The pool's connection, read and written directly: redis-py's per-command
                # path is what this module exists to avoid.
                transport = conn._writer.transport
                transport.set_protocol(_Replies(self, conn, transport.get_protocol()))
                self._conn, self._transport, self._failure = conn, transport, None
                self._opening.set_result(None)
            except BaseException as exc:
                self._opening.set_exception(exc)
                self._opening.exception()  # retrieved: the callers waiting on it get it
                raise
            finally:
                self._opening = None
        else:
            await asyncio.shield(self._opening)

    def _flush(self) -> None:
        self._flush_due = False
        if self._out and self._transport is not None:
            data = b"".join(self._out)
            self._out.clear()
            self._transport.write(data)

    def _deliver(self, reply: Any) -> None:
        future, _ = self._waiting.popleft()
        if future.done():  # its caller gave up (cancelled)
            return
        if isinstance(reply, hiredis.ReplyError):
            future.set_exception(_error(reply))
        else:
            future.set_result(reply)

    def _lost(self, conn: AbstractConnection) -> None:
        """Fail every waiting caller; the next call borrows a fresh connection."""
        failure = self._failure or RedisConnectionError("Redis closed the connection")
        if self._conn is conn:
            self._conn = self._transport = None
            self._out.clear()
            while self._waiting:
                future, _ = self._waiting.popleft()
                if not future.done():
                    future.set_exception(failure)
        task = asyncio.get_running_loop().create_task(self._give_back(conn))
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)

    async def _give_back(self, conn: AbstractConnection) -> None:
        with contextlib.suppress(Exception):  # the client may be closing it at the same time
            await conn.disconnect()
            await self._pool.release(conn)

    def _check_deadline(self) -> None:
        self._watchdog = None
        if not self._waiting:
            return
        if self._waiting[0][1] <= time.monotonic() and self._transport is not None:
            self._failure = TimeoutError("Redis did not answer in time")
            self._transport.abort()  # connection_lost fails everyone waiting, then drops it
            return
        assert self._loop is not None
        self._watchdog = self._loop.call_later(self._timeout / 4, self._check_deadline)


_PIPES: weakref.WeakKeyDictionary[redis.Redis, CommandPipe] = weakref.WeakKeyDictionary()


def pipe_for(client: redis.Redis) -> CommandPipe:
    """The client's pipe, shared by every script batcher of this process using it."""
    pipe = _PIPES.get(client)
    if pipe is None:
        pipe = _PIPES[client] = CommandPipe(client)
    return pipe
