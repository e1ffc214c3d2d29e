"""Request-scoped dependencies: the container and the authenticated user."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ticketmaster.bootstrap import Container
from ticketmaster.domain.errors import Unauthorized
from ticketmaster.services.identity import authenticate


def container(request: Request) -> Container:
    app_container: Container = request.app.state.container
    return app_container


def current_user(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token (Authorization: Bearer <token>)")
    return authenticate(container(request).signer, token.strip())


ContainerDep = Annotated[Container, Depends(container)]
UserDep = Annotated[str, Depends(current_user)]
