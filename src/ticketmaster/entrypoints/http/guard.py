"""Refusals at the edge (SPEC I7: bad input gets a 4xx, never a 5xx), as a pure ASGI
middleware ahead of routing, so they cover every route, the bare ASGI ones included, and
nothing malformed reaches PostgreSQL, Redis or a cache key.

- A path that is not printable ASCII (a NUL or control character, bytes that are not
  UTF-8 — the server decodes those to U+FFFD — or any other non-ASCII character), or
  longer than ``MAX_PATH_CHARS``, names no resource: every id this service issues or
  imports is short printable ASCII. 404 ``not_found``.
- A query string whose names or values, percent-decoded, are not UTF-8 or carry control
  characters (C0, DEL, C1): 422 ``invalid_request``, as any other bad query parameter.
- A header line over ``MAX_HEADER_LINE_BYTES`` or headers over ``MAX_HEADER_BYTES`` in
  all: 400 ``invalid_request``. (The HTTP parser itself refuses control characters in
  header values, before any application code runs.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import unquote_to_bytes

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_PATH_CHARS = 2048
MAX_HEADER_LINE_BYTES = 8 * 1024
MAX_HEADER_BYTES = 32 * 1024
_PRINTABLE_ASCII = re.compile(r"[\x21-\x7e]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _query_problem(query: bytes) -> str | None:
    """Why the query string is refused, or None when every part is clean UTF-8 text."""
    for part in query.split(b"&"):
        for index, raw in enumerate(part.split(b"=", 1)):
            try:
                text = unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                return f"query parameter {_name_of(part)} is not UTF-8 text"
            if _CONTROL.search(text):
                what = "name" if index == 0 else "parameter " + _name_of(part)
                return f"query {what} carries a control character"
    return None


def _name_of(part: bytes) -> str:
    name = unquote_to_bytes(part.split(b"=", 1)[0]).decode("utf-8", "replace")
    return repr(name[:40]) if name.isprintable() else "(unprintable name)"


def _headers_problem(headers: list[tuple[bytes, bytes]]) -> str | None:
    total = 0
    for name, value in headers:
        line = len(name) + len(value) + 4
        if line > MAX_HEADER_LINE_BYTES:
            return f"header {name.decode('latin-1')[:40]!r} exceeds {MAX_HEADER_LINE_BYTES} bytes"
        total += line
    if total > MAX_HEADER_BYTES:
        return f"request headers exceed {MAX_HEADER_BYTES} bytes"
    return None


async def refuse(
    send: Send,
    status: int,
    code: str,
    message: str,
    *,
    headers: Sequence[tuple[bytes, bytes]] = (),
    **extra: object,
) -> None:
    """Answer an error in the usual body shape (errors.py) straight from ASGI messages."""
    body = orjson.dumps({"error": code, "message": message, **extra})
    head = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)), *headers]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """Checks path, query and headers of every HTTP request before the app sees it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if len(path) > MAX_PATH_CHARS or not _PRINTABLE_ASCII.fullmatch(path):
            await refuse(send, 404, "not_found", "no resource has this path (ids are printable ASCII)")
            return
        problem = _headers_problem(scope["headers"])
        if problem is not None:
            await refuse(send, 400, "invalid_request", problem)
            return
        query: bytes = scope["query_string"]
        problem = _query_problem(query) if query else None
        if problem is not None:
            await refuse(send, 422, "invalid_request", problem, field="query")
            return
        await self.app(scope, receive, send)
