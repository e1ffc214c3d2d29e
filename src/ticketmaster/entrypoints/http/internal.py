"""The internal port (``TICKETMASTER_INTERNAL_PORT``): when set, the operator's endpoints —
Prometheus ``/metrics`` and the API docs (``/docs``, ``/redoc``, ``/openapi.json`` and
their scripts) — are served on that port only and answer 404 on the public one, so a
balancer that forwards every path never exposes them; the internal port serves nothing
else but the health probes (``/healthz``, ``/readyz``).

Both ports are sockets of the same uvicorn server in every API process (cli/serving.py),
so ``--workers N`` needs nothing more: a request is told apart by the local port of the
connection it arrived on (ASGI ``scope["server"]``), which a client cannot forge.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from ticketmaster.entrypoints.http.guard import refuse

INTERNAL_PATHS = frozenset({"/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
DOCS_ASSETS = "/static-offline-docs/"  # fastapi-offline's default mount of the docs' files
PROBES = frozenset({"/healthz", "/readyz"})


def is_internal(path: str) -> bool:
    return path in INTERNAL_PATHS or path.startswith(DOCS_ASSETS)


class InternalPort:
    """Routes the operator's endpoints to ``internal_port`` and everything else away from it."""

    def __init__(self, app: ASGIApp, internal_port: int) -> None:
        self.app = app
        self.internal_port = internal_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            server = scope.get("server")
            on_internal = server is not None and server[1] == self.internal_port
            path: str = scope["path"]
            served = (is_internal(path) or path in PROBES) if on_internal else not is_internal(path)
            if not served:
                await refuse(send, 404, "not_found", "no resource has this path on this port")
                return
        await self.app(scope, receive, send)
