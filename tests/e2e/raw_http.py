"""A raw HTTP/1.1 client for hostile requests that httpx refuses to build (control
characters in headers, bytes that are not UTF-8, bodies that lie about their length)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

READ_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


async def raw_request(
    base_url: str,
    method: str,
    target: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    body: bytes | list[bytes] = b"",
) -> RawResponse:
    """Send one request exactly as given (a list body goes chunked) and read the answer.

    The server may answer and close before the whole body was sent (a 413): what it
    answered is returned all the same."""
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        head = [method.encode() + b" " + target + b" HTTP/1.1", b"host: " + (url.netloc or "").encode()]
        head += [name + b": " + value for name, value in headers or []]
        head.append(b"connection: close")
        if isinstance(body, list):
            head.append(b"transfer-encoding: chunked")
            payload = b"".join(b"%x\r\n%b\r\n" % (len(c), c) for c in body if c) + b"0\r\n\r\n"
        else:
            if body and not any(name.lower() == b"content-length" for name, _ in headers or []):
                head.append(b"content-length: %d" % len(body))
            payload = body
        try:
            writer.write(b"\r\n".join(head) + b"\r\n\r\n")
            await writer.drain()
            writer.write(payload)
            await writer.drain()
        except ConnectionError:
            pass  # refused mid-body: the answer is already in the read buffer
        async with asyncio.timeout(READ_TIMEOUT_S):
            raw = await _read_all(reader)
    finally:
        writer.close()
    return _parse(raw)


async def _read_all(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    try:
        while chunk := await reader.read(65536):
            chunks.append(chunk)
    except ConnectionError:
        pass
    return b"".join(chunks)


def _parse(raw: bytes) -> RawResponse:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    if headers.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return RawResponse(status, headers, body)


def _dechunk(body: bytes) -> bytes:
    out = []
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out.append(rest[:size])
        body = rest[size + 2 :]
    return b"".join(out)
