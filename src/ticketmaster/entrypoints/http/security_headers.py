"""Response headers every answer carries (pure ASGI, outermost, so refusals get them too):
``X-Content-Type-Options: nosniff`` (a JSON body is never sniffed into script or HTML)
and ``Referrer-Policy: no-referrer`` (no URL with an id leaks to another site). A route
that sets either itself (the web pages' ``same-origin``) keeps its own."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULTS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"))


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in DEFAULTS if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
