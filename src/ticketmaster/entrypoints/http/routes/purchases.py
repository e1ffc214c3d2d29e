"""Purchases (202 + worker) and bookings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Header
from starlette.responses import Response

from ticketmaster.domain.purchases import Booking, Purchase
from ticketmaster.entrypoints.http.deps import ContainerDep, UserDep, WriterDep
from ticketmaster.entrypoints.http.responses import json_response
from ticketmaster.entrypoints.http.routes.holds import iso
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
        "purchasedAt": iso(b.purchased_at),
        "amountCents": b.amount_cents,
        "currency": b.currency,
    }


@router.post("/holds/{hold_id}/purchase", status_code=202, summary="Pay for a hold (completed by a worker)")
async def purchase(
    hold_id: str,
    user: WriterDep,
    c: ContainerDep,
    body: dict[str, Any] = Body(examples=[{"paymentToken": "tok_visa"}]),  # noqa: B008
    idempotency_key: str | None = Header(default=None, alias="Idempotency-Key"),
) -> Response:
    p = await c.purchases.request(RequestPurchase(hold_id, user, body.get("paymentToken"), idempotency_key))
    return json_response(
        {"purchaseId": p.id, "holdId": p.hold_id, "status": p.status.value},
        202,
        {"Location": f"/purchases/{p.id}"},
    )


@router.get("/purchases/{purchase_id}", summary="A purchase of the caller")
async def get_purchase(purchase_id: str, user: UserDep, c: ContainerDep) -> Response:
    return json_response(purchase_json(await c.purchases.get(user, purchase_id)))


@router.get("/bookings/{booking_id}", summary="A booking of the caller")
async def get_booking(booking_id: str, user: UserDep, c: ContainerDep) -> Response:
    return json_response(booking_json(await c.purchases.booking(user, booking_id)))


@router.get("/bookings", summary="The caller's bookings, newest first")
async def list_bookings(user: UserDep, c: ContainerDep) -> Response:
    return json_response({"bookings": [booking_json(b) for b in await c.purchases.bookings(user)]})
