"""Identity: guest sign-in."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ticketmaster.entrypoints.http import bodies, openapi
from ticketmaster.entrypoints.http.deps import ContainerDep, allow_client
from ticketmaster.entrypoints.http.responses import json_response
from ticketmaster.services.identity import issue_guest

router = APIRouter(tags=["identity"])


@router.post(
    "/auth/guest",
    status_code=201,
    summary="Create a guest buyer and its bearer token",
    responses=openapi.answers(201, bodies.Guest, openapi.RATE_LIMITED, *openapi.SERVED),
)
async def guest(c: ContainerDep, request: Request) -> Response:
    # Anonymous and free: without a per-address bucket every per-buyer limit is one call away.
    await allow_client(request, "guest", "guest sign-ins")
    token, user_id = await issue_guest(c.users, c.signer, c.settings.token_ttl_seconds)
    # A bearer token: no cache along the way may keep it.
    return json_response({"token": token, "userId": user_id}, 201, {"Cache-Control": "no-store"})
