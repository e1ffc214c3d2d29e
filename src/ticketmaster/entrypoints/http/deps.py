"""Request-scoped dependencies: the container, the authenticated user, the write rate limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.routing import request_response
from starlette.types import ASGIApp

from ticketmaster.bootstrap import Container
from ticketmaster.domain.errors import RateLimited, Unauthorized
from ticketmaster.observability import SHED_REQUESTS
from ticketmaster.services.identity import authenticate


# Both are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in a thread
# pool, which would add a thread hand-off to every request.
async def container(request: Request) -> Container:
    app_container: Container = request.app.state.container
    return app_container


async def current_user(request: Request) -> str:
    return bearer_user(request.app.state.container, request.headers.get("authorization", ""))


async def rate_limited_user(request: Request) -> str:
    """The caller of a write endpoint, once their per-user token bucket allowed it (I8)."""
    return await allow_write(request.app.state.container, await current_user(request))


def bearer_user(c: Container, authorization: str) -> str:
    """The user of an ``Authorization: Bearer <access token>`` header (Unauthorized if none)."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token (Authorization: Bearer <token>)")
    return authenticate(c.signer, token.strip())


async def allow_write(c: Container, user: str) -> str:
    """``user`` once their per-user token bucket allowed a write (RateLimited if not)."""
    decision = await c.rate_limiter.take(user)
    if not decision.allowed:
        SHED_REQUESTS.labels("rate_limited").inc()
        raise RateLimited(
            "too many write requests; retry after the Retry-After delay",
            retry_after=str(decision.retry_after_seconds),
        )
    return user


async def allow_client(request: Request, action: str, what: str) -> None:
    """Take one token from the bucket of the request's client address for ``action``
    (RateLimited when empty); exempt clients and switched-off limits pass (clients.py)."""
    limiter = request.app.state.container.client_limiters.get(action)
    if limiter is None:
        return
    client = request.app.state.clients.limit_key(request.scope)
    if client is None:
        return
    decision = await limiter.take(client)
    if not decision.allowed:
        SHED_REQUESTS.labels("client_rate_limited").inc()
        raise RateLimited(
            f"too many {what} from this client address; retry after the Retry-After delay",
            retry_after=str(decision.retry_after_seconds),
        )


ContainerDep = Annotated[Container, Depends(container)]
UserDep = Annotated[str, Depends(current_user)]
WriterDep = Annotated[str, Depends(rate_limited_user)]
"""The authenticated user of a write endpoint (POST/DELETE), rate limited per user."""


class HotRoute(APIRoute):
    """One of an on-sale's hottest endpoints: documented by FastAPI like any route (from
    ``endpoint``'s signature and the usual route arguments), but answered by ``handler`` (a
    ``Request -> Response`` function) or ``asgi`` (a bare ASGI app), without FastAPI's
    dependency resolution and model validation, which cost more than these endpoints' own
    work. ``endpoint`` declares the parameters and body; the route is mounted ahead of
    every other one (app.py), and labels its requests for the metrics as any route does."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        handler: Callable[[Request], Awaitable[Response]] | None = None,
        asgi: ASGIApp | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(path, endpoint, **kwargs)
        if asgi is not None:
            self.app = asgi
        else:
            assert handler is not None, "a HotRoute answers through handler or asgi"
            self.app = request_response(handler)
