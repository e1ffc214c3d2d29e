"""Holds: create (all seats or none), read, cancel."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from fastapi import APIRouter, Header
from pydantic import BaseModel, Field
from starlette.responses import Response

from ticketmaster.domain import errors
from ticketmaster.domain.holds import Hold, HoldStatus
from ticketmaster.entrypoints.http.deps import ContainerDep, UserDep, WriterDep
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


@router.post("/events/{event_id}/holds", status_code=201, summary="Hold seats (all or none)")
async def create_hold(
    event_id: str,
    body: HoldRequest,
    user: WriterDep,
    c: ContainerDep,
    idempotency_key: str | None = Header(default=None, alias="Idempotency-Key"),
    admission_token: str | None = Header(
        default=None,
        alias="X-Admission-Token",
        description="required while the event's waiting room is on (from the queue status)",
    ),
) -> Response:
    started = time.perf_counter()
    outcome = "created"
    try:
        hold = await c.holds.hold_seats(
            HoldSeats(event_id, user, body.seatIds, idempotency_key, admission_token)
        )
    except errors.DomainError as exc:
        outcome = _OUTCOME.get(type(exc), "invalid")
        raise
    except Exception:
        outcome = "unavailable"
        raise
    finally:
        HOLD_ATTEMPTS.labels(outcome).inc()
        HOLD_LATENCY.observe(time.perf_counter() - started)
    return json_response(hold_json(hold, HoldStatus.ACTIVE), 201)


@router.get("/holds/{hold_id}", summary="A hold of the caller")
async def get_hold(hold_id: str, user: UserDep, c: ContainerDep) -> Response:
    hold, status = await c.holds.get_hold(user, hold_id)
    return json_response(hold_json(hold, status))


@router.delete("/holds/{hold_id}", status_code=204, summary="Cancel a hold; its seats are free at once")
async def cancel_hold(hold_id: str, user: WriterDep, c: ContainerDep) -> Response:
    await c.holds.cancel_hold(user, hold_id)
    return Response(status_code=204)
