"""The JSON bodies of the API as pydantic models, for the OpenAPI schema only.

Routes build their JSON by hand (orjson, pre-encoded seat maps) because a model per
response would cost more than the work on the hot paths; these models say what those
bodies are, and the schemathesis conformance test (tests/e2e/test_openapi_conformance.py)
checks every answer of a running server against them. Responses may carry more fields
than listed (API.md), so no model forbids extra ones.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from ticketmaster.domain.purchases import PAYMENT_TOKEN


def json_pattern(regex: re.Pattern[str]) -> str:
    """A domain regex as a JSON Schema ``pattern`` (ECMA syntax: anchored with ^ and $)."""
    core = regex.pattern.removeprefix("\\A").removeprefix("^").removesuffix("\\Z").removesuffix("$")
    return f"^{core}$"


SeatId = Annotated[str, Field(examples=["s01-B-1"])]
Time = Annotated[str, Field(description="RFC 3339, UTC", examples=["2027-01-08T18:00:00Z"])]
HoldState = Literal["ACTIVE", "PURCHASING", "PURCHASED", "EXPIRED", "CANCELLED"]


class ErrorBody(BaseModel):
    """Every 4xx and 5xx body; some errors add fields of their own."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})

    error: str = Field(description="a stable code (API.md, Errors)", examples=["not_found"])
    message: str = Field(description="human text", examples=["event 'evt_9999' does not exist"])
    field: str | None = Field(None, description="the offending field or header, when there is one")
    seatIds: list[str] | None = Field(
        None, description="seats_unavailable: the seats that were not available"
    )
    status: str | None = Field(None, description="hold_not_active: the hold's status")


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    """200 when both engines answer; 503 (with ``error`` and ``message``) when one does not."""

    status: Literal["ready", "unavailable"]
    postgres: str = Field(examples=["ok", "down: ConnectionRefusedError"])
    redis: str = Field(examples=["ok"])
    error: str | None = None
    message: str | None = None


class Guest(BaseModel):
    token: str = Field(description="bearer token: send it as Authorization: Bearer <token>")
    userId: str = Field(examples=["usr_01HZX3"])


class EventSummary(BaseModel):
    id: str = Field(examples=["evt_0002"])
    title: str = Field(examples=["Olivia Rodrigo: Acoustic Night"])
    datetime: Time
    venueId: str = Field(examples=["ven_harbor_arena"])
    venueName: str = Field(examples=["Harbor Arena"])
    city: str = Field(examples=["Boston"])


class EventPage(BaseModel):
    events: list[EventSummary]
    nextCursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last")


class PriceTier(BaseModel):
    id: str = Field(examples=["pt_1"])
    name: str = Field(examples=["Premium"])
    priceCents: int = Field(examples=[15150])
    currency: str = Field(examples=["USD"])


class EventDetail(EventSummary):
    priceTiers: list[PriceTier]
    waitingRoom: bool = Field(description="holds need an admission token from the queue when true")
    onSaleAt: Time
    seatCount: int | None = None


class Seat(BaseModel):
    id: SeatId
    row: str = Field(examples=["B"])
    number: int = Field(examples=[1])
    status: Literal["AVAILABLE", "HELD", "SOLD"]
    priceTierId: str = Field(examples=["pt_1"])


class SeatSection(BaseModel):
    id: str = Field(examples=["s01"])
    name: str = Field(examples=["Floor"])
    seats: list[Seat]


class SeatMap(BaseModel):
    eventId: str = Field(examples=["evt_0002"])
    version: int = Field(description="grows whenever a seat of the event changes; the ETag reflects it")
    sections: list[SeatSection]


class HoldBySeats(BaseModel):
    """Hold exactly these seats (all or none)."""

    model_config = ConfigDict(extra="forbid")

    seatIds: list[SeatId] = Field(
        min_length=1,
        max_length=8,
        description="1 to 8 distinct seat ids of the event",
        examples=[["s01-B-1"]],
    )


class BestChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=1, le=8, examples=[2])
    priceTierIds: list[str] | None = Field(None, description="only seats of these tiers")
    sectionIds: list[str] | None = Field(None, description="only seats of these sections")
    adjacent: bool = Field(True, description="count consecutive seats of one row")


class HoldBest(BaseModel):
    """Let the gate pick the best available seats and hold them in the same atomic step."""

    model_config = ConfigDict(extra="forbid")

    best: BestChoice


def _one_of(schema: dict[str, Any]) -> None:
    # Exactly one alternative matches any body (each forbids the other's field): say so.
    schema["oneOf"] = schema.pop("anyOf")


class HoldRequest(RootModel[HoldBySeats | HoldBest]):
    """Either ``seatIds`` or ``best``, never both (API.md, Holds and Best available)."""

    model_config = ConfigDict(json_schema_extra=_one_of)


class Hold(BaseModel):
    holdId: str = Field(examples=["hld_01HZX4"])
    eventId: str = Field(examples=["evt_0002"])
    seatIds: list[SeatId]
    expiresAt: Time
    status: HoldState


class PurchaseRequest(BaseModel):
    paymentToken: str = Field(
        pattern=json_pattern(PAYMENT_TOKEN),
        description="sandbox: tok_visa, tok_chargeDeclined, tok_timeout, tok_error",
        examples=["tok_visa"],
    )


class PurchaseAccepted(BaseModel):
    purchaseId: str = Field(examples=["pur_01HZX5"])
    holdId: str
    status: Literal["PENDING", "SUCCEEDED", "FAILED"]


class Purchase(BaseModel):
    purchaseId: str = Field(examples=["pur_01HZX5"])
    holdId: str
    status: Literal["PENDING", "SUCCEEDED", "FAILED"]
    bookingId: str | None = Field(description="set when SUCCEEDED")
    seatIds: list[SeatId]
    failureReason: str | None = Field(
        description="set when FAILED: card_declined, hold_expired, payment_error, ...",
    )
    amountCents: int | None = None
    currency: str | None = None


class Booking(BaseModel):
    bookingId: str = Field(examples=["bkg_01HZX6"])
    eventId: str
    seatIds: list[SeatId]
    userId: str
    purchasedAt: Time
    amountCents: int
    currency: str


class Bookings(BaseModel):
    bookings: list[Booking] = Field(description="newest first")


class QueueJoined(BaseModel):
    queueToken: str = Field(description="send it as X-Queue-Token when polling the status")
    position: int | None = Field(description="null before onSaleAt: the pre-queue is shuffled at the opening")
    estimatedWaitSeconds: int
    preQueue: bool | None = None
    onSaleAt: Time | None = None


class QueueWaiting(BaseModel):
    position: int | None
    ahead: int | None = None
    admitted: Literal[False]
    estimatedWaitSeconds: int | None
    preQueue: bool | None = None
    onSaleAt: Time | None = None
    admissionExpired: bool | None = Field(None, description="the admission window passed: join again")
    message: str | None = None


class QueueAdmitted(BaseModel):
    position: int
    admitted: Literal[True]
    admissionToken: str = Field(description="send it as X-Admission-Token when holding seats")
    expiresAt: Time
    admittedAt: Time | None = None


class QueueStatus(RootModel[QueueWaiting | QueueAdmitted]):
    """Waiting (position, people ahead, estimated wait) or admitted (the admission token)."""
