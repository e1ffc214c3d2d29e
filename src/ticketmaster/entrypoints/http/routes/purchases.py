"""Purchases (202 + worker) and bookings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Header
from starlette.responses import Response

from ticketmaster.domain.purchases import Booking, Purchase
from ticketmaster.domain.times import rfc3339
from ticketmaster.entrypoints.http import bodies, openapi
from ticketmaster.entrypoints.http.deps import ContainerDep, UserDep, WriterDep
from ticketmaster.entrypoints.http.responses import json_response
from ticketmaster.services.purchases import RequestPurchase

router = APIRouter(tags=["purchases"])


def purchase_json(p: Purchase) -> dict[str, object]:
    return {
        "purchaseId": p.id,
        "holdId": p.hold_id,
        "status": p.status.value,
        "bookingId": p.booking_id,
        "seatIds": list(p.seat_ids),
        "failureReason": p.failure_reason,
        "amountCents": p.amount_cents,
        "currency": p.currency,
    }


def booking_json(b: Booking) -> dict[str, object]:
    return {
        "bookingId": b.id,
        "eventId": b.event_id,
        "seatIds": list(b.seat_ids),
        "userId": b.user_id,
        "purchasedAt": rfc3339(b.purchased_at, millis=True),
        "amountCents": b.amount_cents,
        "currency": b.currency,
    }


@router.post(
    "/holds/{hold_id}/purchase",
    status_code=202,
    summary="Pay for a hold (completed by a worker)",
    openapi_extra=openapi.BEARER | openapi.json_body(bodies.PurchaseRequest),
    responses=openapi.answers(
        202,
        bodies.PurchaseAccepted,
        openapi.MALFORMED,
        openapi.NO_HOLD,
        openapi.HOLD_NOT_ACTIVE,
        openapi.INVALID,
        openapi.IDEMPOTENCY_CONFLICT,
        *openapi.WRITE,
        description="accepted: poll GET /purchases/{purchaseId} (the Location header)",
        headers={"Location": {"description": "/purchases/{purchaseId}", "schema": {"type": "string"}}},
        links={
            "GetPurchase": openapi.link(
                "get_purchase", "the purchase's outcome", purchase_id="$response.body#/purchaseId"
            )
        },
    ),
)
async def purchase(
    hold_id: openapi.HoldId,
    user: WriterDep,
    c: ContainerDep,
    body: dict[str, Any] = Body(examples=[{"paymentToken": "tok_visa"}]),  # noqa: B008
    idempotency_key: str | None = Header(
        default=None,
        alias="Idempotency-Key",
        description="optional: the same key always answers the same purchase",
        json_schema_extra=openapi.IDEMPOTENCY_KEY_SCHEMA,
    ),
) -> Response:
    p = await c.purchases.request(RequestPurchase(hold_id, user, body.get("paymentToken"), idempotency_key))
    return json_response(
        {"purchaseId": p.id, "holdId": p.hold_id, "status": p.status.value},
        202,
        {"Location": f"/purchases/{p.id}"},
    )


@router.get(
    "/purchases/{purchase_id}",
    summary="A purchase of the caller",
    openapi_extra=openapi.BEARER,
    responses=openapi.answers(
        200,
        bodies.Purchase,
        openapi.NO_PURCHASE,
        *openapi.AUTHED,
        links={
            "GetBooking": openapi.link(
                "get_booking", "the booking, once SUCCEEDED", booking_id="$response.body#/bookingId"
            )
        },
    ),
)
async def get_purchase(purchase_id: openapi.PurchaseId, user: UserDep, c: ContainerDep) -> Response:
    return json_response(purchase_json(await c.purchases.get(user, purchase_id)))


@router.get(
    "/bookings/{booking_id}",
    summary="A booking of the caller",
    openapi_extra=openapi.BEARER,
    responses=openapi.answers(200, bodies.Booking, openapi.NO_BOOKING, *openapi.AUTHED),
)
async def get_booking(booking_id: openapi.BookingId, user: UserDep, c: ContainerDep) -> Response:
    return json_response(booking_json(await c.purchases.booking(user, booking_id)))


@router.get(
    "/bookings",
    summary="The caller's bookings, newest first",
    openapi_extra=openapi.BEARER,
    responses=openapi.answers(
        200,
        bodies.Bookings,
        *openapi.AUTHED,
        links={
            "GetBooking": openapi.link(
                "get_booking", "the newest booking", booking_id="$response.body#/bookings/0/bookingId"
            )
        },
    ),
)
async def list_bookings(user: UserDep, c: ContainerDep) -> Response:
    return json_response({"bookings": [booking_json(b) for b in await c.purchases.bookings(user)]})
