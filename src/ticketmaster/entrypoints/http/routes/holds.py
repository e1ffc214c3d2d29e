"""Holds: create (all seats or none), read, cancel."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import orjson
from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from ticketmaster.domain import errors
from ticketmaster.domain.holds import Hold, HoldStatus
from ticketmaster.entrypoints.http.deps import (
    ContainerDep,
    PlainRoute,
    UserDep,
    WriterDep,
    container,
    rate_limited_user,
)
from ticketmaster.entrypoints.http.errors import domain_error_response
from ticketmaster.entrypoints.http.responses import json_response
from ticketmaster.observability import HOLD_ATTEMPTS, HOLD_LATENCY
from ticketmaster.services.holds import HoldSeats

router = APIRouter(tags=["holds"])


class HoldRequest(BaseModel):
    seatIds: list[str] = Field(description="1 to 8 distinct seat ids of the event")


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def hold_json(hold: Hold, status: HoldStatus) -> dict[str, object]:
    return {
        "holdId": hold.id,
        "eventId": hold.event_id,
        "seatIds": list(hold.seat_ids),
        "expiresAt": iso(hold.expires_at),
        "status": status.value,
    }


_OUTCOME = {
    errors.SeatsUnavailable: "conflict",
    errors.HoldLimitExceeded: "limit",
    errors.Unavailable: "unavailable",
}
_ATTEMPTS = {o: HOLD_ATTEMPTS.labels(o) for o in ("created", "conflict", "limit", "unavailable", "invalid")}


def _seat_ids(raw: bytes) -> list[str]:
    """The body's ``seatIds`` (a JSON list of strings); its size and seats are checked later."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise errors.InvalidRequest("the body must be a JSON object", field="body") from None
    seat_ids = body.get("seatIds") if isinstance(body, dict) else None
    if not isinstance(seat_ids, list) or not all(isinstance(s, str) for s in seat_ids):
        raise errors.InvalidRequest("seatIds must be a list of seat ids (strings)", field="seatIds")
    return seat_ids


async def post_hold(request: Request) -> Response:
    """``POST /events/{event_id}/holds`` as a plain Starlette endpoint (see hold_route)."""
    started = time.perf_counter()
    outcome = "created"
    try:
        user = await rate_limited_user(request)
        seat_ids = _seat_ids(await request.body())
        c = await container(request)
        headers = request.headers
        hold = await c.holds.hold_seats(
            HoldSeats(
                request.path_params["event_id"],
                user,
                seat_ids,
                headers.get("idempotency-key"),
                headers.get("x-admission-token"),
            )
        )
    except errors.DomainError as exc:
        # Answered here rather than raised through the framework: at an on-sale refusals
        # (409) are as common as holds.
        outcome = _OUTCOME.get(type(exc), "invalid")
        return domain_error_response(request, exc)
    except Exception:
        outcome = "unavailable"
        raise
    finally:
        _ATTEMPTS[outcome].inc()
        HOLD_LATENCY.observe(time.perf_counter() - started)
    return json_response(hold_json(hold, HoldStatus.ACTIVE), 201)


@router.post(
    "/events/{event_id}/holds",
    status_code=201,
    summary="Hold seats (all or none)",
    responses={201: {"description": "The hold, durable in PostgreSQL"}},
)
async def create_hold(
    event_id: str,
    body: HoldRequest,
    request: Request,
    idempotency_key: str = Header(alias="Idempotency-Key", description="scoped to the buyer"),
    authorization: str = Header(description="Bearer <token>"),
    admission_token: str | None = Header(
        default=None,
        alias="X-Admission-Token",
        description="required while the event's waiting room is on (from the queue status)",
    ),
) -> Response:
    return await post_hold(request)


hold_route = PlainRoute("/events/{event_id}/holds", post_hold, methods=["POST"], name="hold_create")
"""The hold request, mounted ahead of the FastAPI routes (app.py): at an on-sale it is the
hottest write, and FastAPI's dependency resolution and model validation cost more than the
checks it needs (a JSON list of strings). The FastAPI route above documents it in the
OpenAPI schema and answers only if this one is not mounted."""


@router.get("/holds/{hold_id}", summary="A hold of the caller")
async def get_hold(hold_id: str, user: UserDep, c: ContainerDep) -> Response:
    hold, status = await c.holds.get_hold(user, hold_id)
    return json_response(hold_json(hold, status))


@router.delete("/holds/{hold_id}", status_code=204, summary="Cancel a hold; its seats are free at once")
async def cancel_hold(hold_id: str, user: WriterDep, c: ContainerDep) -> Response:
    await c.holds.cancel_hold(user, hold_id)
    return Response(status_code=204)
