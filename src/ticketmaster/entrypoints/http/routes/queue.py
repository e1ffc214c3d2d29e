"""The waiting room: join an event's queue, poll its status until admitted."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ticketmaster.domain.times import rfc3339_ms
from ticketmaster.entrypoints.http import bodies, openapi
from ticketmaster.entrypoints.http.deps import (
    ContainerDep,
    HotRoute,
    WriterDep,
    allow_client,
    container,
    current_user,
)
from ticketmaster.entrypoints.http.responses import json_response
from ticketmaster.observability import QUEUE_ETA_ERROR

router = APIRouter(tags=["waiting room"])
_NO_STORE = {"Cache-Control": "no-store"}


@router.post(
    "/events/{event_id}/queue",
    status_code=201,
    summary="Join the event's waiting room (joining again keeps the same place)",
    openapi_extra=openapi.BEARER,
    responses=openapi.answers(
        201,
        bodies.QueueJoined,
        openapi.NO_EVENT,
        openapi.NO_WAITING_ROOM,
        *openapi.WRITE,
        links={
            "QueueStatus": openapi.link(
                "queue_status",
                "poll the place in the queue",
                event_id="$request.path.event_id",
                **{"header.X-Queue-Token": "$response.body#/queueToken"},
            )
        },
    ),
)
async def join_queue(
    event_id: openapi.EventId, user: WriterDep, c: ContainerDep, request: Request
) -> Response:
    await allow_client(request, "queue_join", "queue joins")  # one place per buyer, few buyers per address
    joined = await c.waiting_room.join(user, event_id)
    body: dict[str, object] = {
        "queueToken": joined.queue_token,
        "position": joined.position,
        "estimatedWaitSeconds": joined.estimated_wait_seconds,
    }
    if joined.position is None:
        # Before the opening nobody has a position yet: the pre-queue is shuffled at onSaleAt.
        body |= {"preQueue": True, "onSaleAt": rfc3339_ms(joined.on_sale_at_ms)}
    return json_response(body, 201, _NO_STORE)


async def poll_status(request: Request) -> Response:
    """``GET /events/{event_id}/queue/status`` as a plain Starlette endpoint (see status_route)."""
    c = await container(request)
    user = await current_user(request)
    event_id = request.path_params["event_id"]
    s = await c.waiting_room.status(user, event_id, request.headers.get("x-queue-token"))
    body: dict[str, object]
    if s.admitted:
        assert s.admitted_at_ms is not None
        assert s.expires_at_ms is not None
        if s.eta_error_seconds is not None:
            QUEUE_ETA_ERROR.observe(s.eta_error_seconds)
        body = {
            "position": s.position,
            "admitted": True,
            "admissionToken": s.admission_token,
            "expiresAt": rfc3339_ms(s.expires_at_ms),
            "admittedAt": rfc3339_ms(s.admitted_at_ms),
        }
    elif s.lapsed:
        body = {
            "position": s.position,
            "ahead": 0,
            "admitted": False,
            "estimatedWaitSeconds": None,
            "admissionExpired": True,
            "message": "your admission window has passed; join the queue again for a new place",
        }
    else:
        body = {
            "position": s.position,
            "ahead": s.ahead,
            "admitted": False,
            "estimatedWaitSeconds": s.estimated_wait_seconds,
        }
        if s.on_sale_at_ms is not None:
            body |= {"preQueue": True, "onSaleAt": rfc3339_ms(s.on_sale_at_ms)}
    return json_response(body, 200, _NO_STORE)


async def queue_status(event_id: openapi.EventId) -> None:
    """Declares the request for the schema; poll_status answers it."""


status_route = HotRoute(
    "/events/{event_id}/queue/status",
    queue_status,
    handler=poll_status,
    methods=["GET"],
    tags=["waiting room"],
    summary="Position and wait, or the admission token once admitted",
    description="While waiting: position, people ahead and the estimated wait. Once admitted: "
    "the admission token that holds of this event need, and when it expires.",
    openapi_extra=openapi.BEARER
    | {
        "parameters": [
            {
                "name": "X-Queue-Token",
                "in": "header",
                "required": True,
                "description": "the queueToken of POST /events/{event_id}/queue (400 without it)",
                "schema": {"type": "string"},
            }
        ]
    },
    responses=openapi.answers(
        200,
        bodies.QueueStatus,
        openapi.MISSING_QUEUE_TOKEN,
        openapi.QUEUE_TOKEN_REFUSED,
        openapi.NO_EVENT,  # a path that is not printable ASCII names no event (guard.py)
        *openapi.AUTHED,
        description="waiting (position, people ahead, wait) or admitted (the admission token)",
        links={
            "HoldAdmitted": openapi.link(
                "create_hold",
                "hold seats with the admission token",
                event_id="$request.path.event_id",
                body={"best": {"count": 1}},
                **{"header.X-Admission-Token": "$response.body#/admissionToken"},
            )
        },
    ),
    generate_unique_id_function=openapi.operation_id,
)
"""The poll, mounted ahead of every FastAPI route (app.py). It is the most frequent request
of an on-sale (every waiter, every few seconds) and its work is a signature check and a
dictionary lookup, so FastAPI's dependency resolution would cost more than the work itself."""
