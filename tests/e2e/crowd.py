"""A cheap HTTP client for crowds: many concurrent requests over a few keep-alive
connections, on raw asyncio streams (bench.http1), so that a test firing thousands of
requests measures the server rather than the client (httpx costs ~10x more CPU per
request, which on a 2-core machine is taken from the server under test)."""

from __future__ import annotations

import asyncio
import time
from types import TracebackType
from typing import Any

import orjson
from bench.http1 import READ_LIMIT, close_quietly, read_response, split_url

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Reply:
    def __init__(self, status: int, headers: dict[bytes, bytes], body: bytes, seconds: float) -> None:
        self.status_code = status
        self.headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers.items()}
        self.content = body
        self.seconds = seconds
        """From writing the request to the end of the response (excludes waiting for a connection)."""

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return orjson.loads(self.content)


class Crowd:
    """``async with Crowd(url, connections) as crowd: await crowd.get(path, headers)``."""

    def __init__(self, base_url: str, connections: int = 32, timeout_s: float = 30.0) -> None:
        self.host, self.port = split_url(base_url)
        self.connections = connections
        self.timeout_s = timeout_s
        self._idle: asyncio.Queue[Connection | None] = asyncio.Queue()

    async def __aenter__(self) -> Crowd:
        for _ in range(self.connections):
            self._idle.put_nowait(None)  # opened on first use
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        while not self._idle.empty():
            conn = self._idle.get_nowait()
            if conn is not None:
                await close_quietly(conn[1])

    def _build(self, method: str, path: str, headers: dict[str, str] | None, body: bytes) -> bytes:
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Content-Length: {len(body)}",
        ]
        if body:
            lines.append("Content-Type: application/json")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, json: Any = None
    ) -> Reply:
        raw = self._build(method, path, headers, b"" if json is None else orjson.dumps(json))
        conn = await self._idle.get()
        try:
            if conn is None:
                conn = await asyncio.open_connection(self.host, self.port, limit=READ_LIMIT)
            started = time.perf_counter()
            conn[1].write(raw)
            response = await asyncio.wait_for(read_response(conn[0]), self.timeout_s)
            seconds = time.perf_counter() - started
            if not response.keep_alive:
                await close_quietly(conn[1])
                conn = None
        except BaseException:
            if conn is not None:
                await close_quietly(conn[1])
            self._idle.put_nowait(None)
            raise
        self._idle.put_nowait(conn)
        return Reply(response.status, response.headers, response.body, seconds)

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return await self.request("GET", path, headers)

    async def post(self, path: str, headers: dict[str, str] | None = None, json: Any = None) -> Reply:
        return await self.request("POST", path, headers, json)

    async def delete(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return await self.request("DELETE", path, headers)
