"""Holds: create (all seats or none), read, cancel."""

from __future__ import annotations

import time

import orjson
from fastapi import APIRouter, Header
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ticketmaster.bootstrap import Container
from ticketmaster.domain import errors
from ticketmaster.domain.best_available import BestAvailable, parse_best
from ticketmaster.domain.holds import Hold, HoldStatus
from ticketmaster.domain.times import rfc3339
from ticketmaster.entrypoints.http import bodies, openapi
from ticketmaster.entrypoints.http.deps import (
    ContainerDep,
    HotRoute,
    UserDep,
    WriterDep,
    allow_write,
    bearer_user,
)
from ticketmaster.entrypoints.http.errors import domain_error_response
from ticketmaster.entrypoints.http.responses import json_response
from ticketmaster.observability import HOLD_ATTEMPTS, HOLD_LATENCY
from ticketmaster.services.holds import HoldSeats

router = APIRouter(tags=["holds"])


def hold_json(hold: Hold, status: HoldStatus) -> dict[str, object]:
    return {
        "holdId": hold.id,
        "eventId": hold.event_id,
        "seatIds": list(hold.seat_ids),
        "expiresAt": rfc3339(hold.expires_at, millis=True),
        "status": status.value,
    }


_OUTCOME = {
    errors.SeatsUnavailable: "conflict",
    errors.HoldLimitExceeded: "limit",
    errors.Unavailable: "unavailable",
}
_ATTEMPTS = {o: HOLD_ATTEMPTS.labels(o) for o in ("created", "conflict", "limit", "unavailable", "invalid")}


def _hold_body(raw: bytes) -> tuple[list[str], BestAvailable | None]:
    """The body's ``seatIds`` (a JSON list of strings; its size and seats are checked later)
    or its ``best`` request: exactly one of them."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise errors.InvalidRequest("the body must be a JSON object", field="body") from None
    if not isinstance(body, dict):
        raise errors.InvalidRequest("the body must be a JSON object", field="body")
    seat_ids, best = body.get("seatIds"), body.get("best")
    if (seat_ids is None) == (best is None):
        raise errors.InvalidRequest("the body must carry exactly one of seatIds and best", field="body")
    if best is not None:
        return [], parse_best(best)
    if not isinstance(seat_ids, list) or not all(isinstance(s, str) for s in seat_ids):
        raise errors.InvalidRequest("seatIds must be a list of seat ids (strings)", field="seatIds")
    return seat_ids, None


class HoldEndpoint:
    """``POST /events/{event_id}/holds`` as a bare ASGI app (see hold_route): it reads the
    three headers and the body it needs straight from the ASGI messages and answers with
    pre-built header lists, instead of building Starlette's Request and Response objects
    for the hottest write of an on-sale. Errors answer as everywhere else (errors.py)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        outcome = "created"
        refusal: Response | None = None
        try:
            c: Container = scope["app"].state.container
            authorization = idempotency_key = admission_token = None
            for name, value in scope["headers"]:
                if name == b"authorization":
                    authorization = value.decode("latin-1")
                elif name == b"idempotency-key":
                    idempotency_key = value.decode("latin-1")
                elif name == b"x-admission-token":
                    admission_token = value.decode("latin-1")
            user = await allow_write(c, bearer_user(c, authorization or ""))
            seat_ids, best = _hold_body(await _body(receive))
            event_id = scope["path_params"]["event_id"]
            hold = await c.holds.hold_seats(
                HoldSeats(event_id, user, seat_ids, idempotency_key, admission_token, best)
            )
        except errors.DomainError as exc:
            # Answered here rather than raised through the framework: at an on-sale refusals
            # (409) are as common as holds.
            outcome = _OUTCOME.get(type(exc), "invalid")
            refusal = domain_error_response(exc, "POST", scope["path"])
        except Exception:
            outcome = "unavailable"
            raise
        finally:
            _ATTEMPTS[outcome].inc()
            HOLD_LATENCY.observe(time.perf_counter() - started)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        body = orjson.dumps(hold_json(hold, HoldStatus.ACTIVE))
        headers = [*_JSON_HEADERS, (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": body})


_JSON_HEADERS = [(b"content-type", b"application/json")]


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


_HOLD_LINKS = {
    "GetHold": openapi.link("get_hold", "the hold", hold_id="$response.body#/holdId"),
    "CancelHold": openapi.link("cancel_hold", "cancel the hold", hold_id="$response.body#/holdId"),
    "PurchaseHold": openapi.link(
        "purchase", "pay for the hold", hold_id="$response.body#/holdId", body={"paymentToken": "tok_visa"}
    ),
}


async def create_hold(
    event_id: openapi.EventId,
    body: bodies.HoldRequest,
    idempotency_key: str = Header(
        alias="Idempotency-Key",
        description="required (400 without it); scoped to the buyer",
        json_schema_extra=openapi.IDEMPOTENCY_KEY_SCHEMA,
    ),
    admission_token: str | None = Header(
        default=None,
        alias="X-Admission-Token",
        description="required while the event's waiting room is on (from the queue status)",
    ),
) -> None:
    """Declares the request for the schema; HoldEndpoint reads and answers it."""


hold_route = HotRoute(
    "/events/{event_id}/holds",
    create_hold,
    asgi=HoldEndpoint(),
    methods=["POST"],
    tags=["holds"],
    status_code=201,
    summary="Hold seats (all or none): these seats, or the best available",
    description="Holds every seat of `seatIds` or none, or picks and holds the best available "
    "`best.count` seats in the same atomic step; the seats stay held until `expiresAt`.",
    openapi_extra=openapi.BEARER,
    responses=openapi.answers(
        201,
        bodies.Hold,
        openapi.MALFORMED,
        openapi.NOT_ON_SALE,
        openapi.ADMISSION_REQUIRED,
        openapi.NO_EVENT,
        openapi.SEATS_UNAVAILABLE,
        openapi.HOLD_LIMIT,
        openapi.INVALID,
        openapi.IDEMPOTENCY_CONFLICT,
        *openapi.WRITE,
        description="the hold, durable in PostgreSQL (the same again for a repeated Idempotency-Key)",
        links=_HOLD_LINKS,
    ),
    generate_unique_id_function=openapi.operation_id,
)
"""The hold request: at an on-sale it is the hottest write, and FastAPI's dependency
resolution and model validation cost more than the checks it needs (HoldEndpoint)."""


@router.get(
    "/holds/{hold_id}",
    summary="A hold of the caller",
    openapi_extra=openapi.BEARER,
    responses=openapi.answers(200, bodies.Hold, openapi.NO_HOLD, *openapi.AUTHED),
)
async def get_hold(hold_id: openapi.HoldId, user: UserDep, c: ContainerDep) -> Response:
    hold, status = await c.holds.get_hold(user, hold_id)
    return json_response(hold_json(hold, status))


@router.delete(
    "/holds/{hold_id}",
    status_code=204,
    summary="Cancel a hold; its seats are free at once",
    openapi_extra=openapi.BEARER,
    responses=openapi.answers(
        204,
        None,
        openapi.NO_HOLD,
        openapi.HOLD_NOT_ACTIVE,
        *openapi.WRITE,
        description="cancelled (also when it already was)",
    ),
)
async def cancel_hold(hold_id: openapi.HoldId, user: WriterDep, c: ContainerDep) -> Response:
    await c.holds.cancel_hold(user, hold_id)
    return Response(status_code=204)
