"""Request bodies are JSON and at most 16 KiB (API.md "Errors"), checked as a pure ASGI
middleware so every route is covered, the bare ASGI hold endpoint included.

Contract, per HTTP request:

- ``Content-Length`` over ``MAX_BODY_BYTES``: 413 ``payload_too_large`` at once, before
  the app runs or a byte of the body is read.
- A body (a non-zero ``Content-Length``, or ``Transfer-Encoding``) whose
  ``Content-Type`` is not ``application/json`` or ``application/*+json`` (a charset, if
  given, must be UTF-8): 415 ``unsupported_media_type``, before the app runs.
- A chunked body (its length unknown up front) is read here, and refused with 413 the
  moment it grows past the limit, whether or not the endpoint would read it; a body
  within the limit is handed to the app in one message. (At most 16 KiB is held.)

Every refusal closes the connection: the rest of the body is never read.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ticketmaster.entrypoints.http.guard import refuse

MAX_BODY_BYTES = 16 * 1024
_CLOSE = [(b"connection", b"close")]
_TOO_LARGE = f"the request body must be at most {MAX_BODY_BYTES} bytes"


def is_json(content_type: bytes) -> bool:
    """``application/json`` or ``application/<x>+json``, UTF-8 if a charset is named."""
    media, *params = content_type.decode("latin-1").lower().split(";")
    kind, _, subtype = media.strip().partition("/")
    if kind != "application" or not (subtype == "json" or subtype.endswith("+json")):
        return False
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in {"utf-8", "utf8"}:
            return False
    return True


class BodyLimit:
    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length: int | None = None
        streamed = False
        content_type: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = int(value) if value.isdigit() else None  # the HTTP parser checked it
            elif name == b"transfer-encoding":
                streamed = True
            elif name == b"content-type":
                content_type = value
        if length is not None and length > self.max_body_bytes:
            await refuse(send, 413, "payload_too_large", _TOO_LARGE, headers=_CLOSE)
            return
        if (streamed or length) and (content_type is None or not is_json(content_type)):
            await refuse(
                send, 415, "unsupported_media_type", "request bodies must be application/json", headers=_CLOSE
            )
            return
        if not streamed:
            await self.app(scope, receive, send)  # the length is known and within the limit
            return
        try:
            body = await _read_up_to(receive, self.max_body_bytes)
        except _ClientGone:
            return  # left in the middle of its body: nobody to answer
        if body is None:
            await refuse(send, 413, "payload_too_large", _TOO_LARGE, headers=_CLOSE)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # e.g. the client's disconnect, for a streaming response
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class _ClientGone(Exception):
    pass


async def _read_up_to(receive: Receive, limit: int) -> bytes | None:
    """The whole body if it is at most ``limit`` bytes, else None (reading stops there)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
