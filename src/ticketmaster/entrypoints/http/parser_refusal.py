"""The answer to a request the HTTP parser refuses (a control character in a header value,
a request line that is not HTTP/1.1): uvicorn writes a plain-text 400 itself, before any
ASGI code runs, so neither the error body (API.md "Errors", SPEC I7) nor the security
headers (security_headers.py) would reach it. This protocol writes both."""

from __future__ import annotations

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ticketmaster.entrypoints.http.security_headers import DEFAULTS

MESSAGE = "the request is not valid HTTP/1.1 (a control character in a header value?)"
_BODY = orjson.dumps({"error": "invalid_request", "message": MESSAGE})
_HEADERS = (
    *DEFAULTS,
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_BODY)).encode()),
    (b"connection", b"close"),
)


class JsonRefusalProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, whose refusal of an unparsable request is the API's
    JSON 400 ``invalid_request`` (the connection closes after it, as uvicorn's does)."""

    def send_400_response(self, msg: str) -> None:
        headers = [*self.server_state.default_headers, *_HEADERS]
        head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        self.transport.write(b"HTTP/1.1 400 Bad Request\r\n" + head + b"\r\n" + _BODY)
        self.transport.close()
