"""Request-scoped dependencies: the container, the authenticated user, the write rate limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.routing import Match, Route
from starlette.types import Scope

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


ContainerDep = Annotated[Container, Depends(container)]
UserDep = Annotated[str, Depends(current_user)]
WriterDep = Annotated[str, Depends(rate_limited_user)]
"""The authenticated user of a write endpoint (POST/DELETE), rate limited per user."""


class PlainRoute(Route):
    """A Starlette route for a hot endpoint, mounted ahead of the FastAPI routes: no
    dependency resolution or model validation. It labels its requests for the metrics
    middleware as FastAPI routes do."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self  # what the metrics middleware labels requests with
        return match, child_scope
