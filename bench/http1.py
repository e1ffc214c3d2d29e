"""HTTP/1.1 on raw asyncio streams, as little as a load generator needs: pre-built
requests, and responses read by status line, headers and framing (Content-Length,
chunked, or end of connection), with interim 1xx responses skipped."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlsplit

READ_LIMIT = 1 << 20
USER_AGENT = "tm-loadgen/1"


class ProtocolError(Exception):
    """The peer's bytes are not a well-formed HTTP/1.x response."""


def is_success(status: int) -> bool:
    """What a benchmark counts as a success: 2xx, or 304 to a conditional request."""
    return 200 <= status < 300 or status == 304


def build_get(host: str, port: int, path: str, headers: dict[str, str] | None = None) -> bytes:
    """A keep-alive ``GET`` request, ready to be written as is."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", f"User-Agent: {USER_AGENT}", "Accept: */*"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass(frozen=True, slots=True)
class ResponseHead:
    status: int
    headers: dict[bytes, bytes]
    """Lower-cased names; repeated headers joined with ``, ``."""
    content_length: int | None
    chunked: bool
    keep_alive: bool


class Response(NamedTuple):
    status: int
    headers: dict[bytes, bytes]
    body: bytes
    keep_alive: bool


def parse_head(raw: bytes) -> ResponseHead:
    """Parse a status line and header block (without the final blank line)."""
    status_line, *header_lines = raw.split(b"\r\n")
    if not status_line.startswith(b"HTTP/1.") or len(status_line) < 12 or status_line[8:9] != b" ":
        raise ProtocolError(f"bad status line {status_line[:80]!r}")
    code = status_line[9:12]
    if not code.isdigit() or status_line[12:13] not in (b"", b" "):
        raise ProtocolError(f"bad status code in {status_line[:80]!r}")
    headers: dict[bytes, bytes] = {}
    for line in header_lines:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise ProtocolError(f"bad header line {line[:80]!r}")
        name, value = name.lower(), value.strip()
        headers[name] = headers[name] + b", " + value if name in headers else value
    codings = [t.strip() for t in headers.get(b"transfer-encoding", b"").lower().split(b",")]
    chunked = codings[-1] == b"chunked"
    content_length: int | None = None
    if not chunked and b"content-length" in headers:
        raw_length = headers[b"content-length"]
        if not raw_length.isdigit():
            raise ProtocolError(f"bad Content-Length {raw_length[:40]!r}")
        content_length = int(raw_length)
    tokens = {t.strip() for t in headers.get(b"connection", b"").lower().split(b",")}
    keep_alive = b"close" not in tokens if status_line[7:8] == b"1" else b"keep-alive" in tokens
    return ResponseHead(int(code), headers, content_length, chunked, keep_alive)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_field = (await reader.readuntil(b"\r\n"))[:-2].split(b";", 1)[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError:
            raise ProtocolError(f"bad chunk size {size_field[:40]!r}") from None
        if size == 0:
            break
        parts.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise ProtocolError("chunk not followed by CRLF")
    while await reader.readuntil(b"\r\n") != b"\r\n":
        pass  # trailer fields: read and ignored
    return b"".join(parts)


async def read_response(reader: asyncio.StreamReader, *, head_request: bool = False) -> Response:
    """Read one complete response (interim 1xx responses are skipped)."""
    while True:
        head = parse_head((await reader.readuntil(b"\r\n\r\n"))[:-4])
        if not 100 <= head.status < 200 or head.status == 101:
            break
    keep_alive = head.keep_alive
    if head_request or head.status in (204, 304) or head.status < 200:
        body = b""
    elif head.chunked:
        body = await _read_chunked(reader)
    elif head.content_length is not None:
        body = await reader.readexactly(head.content_length)
    else:
        body, keep_alive = await reader.read(), False  # delimited by the end of the connection
    return Response(head.status, head.headers, body, keep_alive)


async def close_quietly(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


async def fetch(host: str, port: int, request: bytes, *, timeout_s: float = 10.0) -> Response:
    """One request on a new connection (for set-up and checks, not for load)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, limit=READ_LIMIT), timeout_s)
    try:
        writer.write(request)
        return await asyncio.wait_for(read_response(reader), timeout_s)
    finally:
        await close_quietly(writer)


def split_url(url: str) -> tuple[str, int]:
    """(host, port) of an ``http://`` base URL."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"{url!r}: only http://host[:port] URLs are supported")
    return parts.hostname, parts.port or 80
