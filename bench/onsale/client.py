"""A small HTTP/1.1 client for many light buyers: a bounded set of keep-alive connections
(buyers wait for a free one, so concurrency stays bounded whatever the number of buyers),
requests and responses as bytes (:mod:`bench.http1`), and a journal of every request.

Contract: ``request`` returns a :class:`Reply` for any HTTP status; a transport failure
(refused, reset, timeout after ``timeout_s``) closes that connection and returns a Reply
with status 0, so callers treat "no answer" like any other status. Each request is
journaled as (sent s since the journal's start, endpoint, status, latency s), and (sent,
the time it waited for a free connection before that) per endpoint.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench.http1 import READ_LIMIT, ProtocolError, close_quietly, read_response

_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]
# The server closes a keep-alive connection idle for 5 s (uvicorn's default); one idle this
# long is not reused, so a request never goes out on a connection being closed.
IDLE_S = 3.0


@dataclass(slots=True)
class Reply:
    status: int
    headers: dict[bytes, bytes]
    body: bytes

    def json(self) -> Any:
        if self.headers.get(b"content-encoding") == b"gzip":
            return orjson.loads(zlib.decompress(self.body, 47))
        return orjson.loads(self.body) if self.body else None

    @property
    def retry_after(self) -> float:
        try:
            return float(self.headers.get(b"retry-after", b"1"))
        except ValueError:
            return 1.0


@dataclass
class Journal:
    """Every request made: compact tuples, appended in completion order."""

    start: float = field(default_factory=time.monotonic)
    entries: list[tuple[float, str, int, float]] = field(default_factory=list)
    # Per endpoint, (sent s since the start, s it waited for one of the client's connections
    # before it was sent): the harness's own queue, outside the latencies above (a browser has
    # its own).
    slot_waits: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def now(self) -> float:
        return time.monotonic() - self.start


class Client:
    def __init__(
        self, host: str, port: int, journal: Journal, *, connections: int = 64, timeout_s: float = 15.0
    ) -> None:
        self._host, self._port = host, port
        self._journal = journal
        self._timeout = timeout_s
        self._idle: list[tuple[_Conn, float]] = []
        self._slots = asyncio.Semaphore(connections)
        self._prefix = f"Host: {host}:{port}\r\nUser-Agent: tm-onsale/1\r\n"

    async def request(
        self,
        method: str,
        path: str,
        endpoint: str,
        *,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> Reply:
        head = f"{method} {path} HTTP/1.1\r\n{self._prefix}"
        for name, value in (headers or {}).items():
            head += f"{name}: {value}\r\n"
        payload = b""
        if body is not None:
            payload = orjson.dumps(body)
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        elif method == "POST":
            head += "Content-Length: 0\r\n"
        raw = (head + "\r\n").encode("latin-1") + payload
        asked = time.monotonic()
        async with self._slots:
            sent = time.monotonic()
            waited = (sent - self._journal.start, sent - asked)
            self._journal.slot_waits.setdefault(endpoint, []).append(waited)
            reply = await self._send(raw)
        done = time.monotonic()
        self._journal.entries.append((sent - self._journal.start, endpoint, reply.status, done - sent))
        return reply

    async def _send(self, raw: bytes) -> Reply:
        conn: _Conn | None = None
        while self._idle and conn is None:
            conn, used = self._idle.pop()
            if time.monotonic() - used > IDLE_S:
                await close_quietly(conn[1])
                conn = None
        try:
            async with asyncio.timeout(self._timeout):
                if conn is None:
                    conn = await asyncio.open_connection(self._host, self._port, limit=READ_LIMIT)
                conn[1].write(raw)
                response = await read_response(conn[0])
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ProtocolError):
            if conn is not None:
                await close_quietly(conn[1])
            return Reply(0, {}, b"")
        if response.keep_alive:
            self._idle.append((conn, time.monotonic()))
        else:
            await close_quietly(conn[1])
        return Reply(response.status, response.headers, response.body)

    async def close(self) -> None:
        while self._idle:
            await close_quietly(self._idle.pop()[0][1])
