"""The sandbox's HTTP face: Stripe-like routes over :class:`PaymentProcessor`.

Routes (errors are ``{"error": {"type", "code", "message"}}``, like Stripe's):

- ``POST /v1/payments`` — create and confirm; header ``Idempotency-Key`` (required), body
  ``{"amountCents", "currency", "paymentToken", "metadata"?}``. 200 payment (succeeded);
  402 ``card_declined`` with the declined ``payment``; 400 ``invalid_request``,
  ``idempotency_key_missing``, ``invalid_token`` or ``idempotency_key_reused``; 500
  ``internal_error`` and 504 ``timeout`` (injected, nothing charged).
- ``POST /v1/payments/{id}/refund`` — header ``Idempotency-Key`` (optional). 200 refund;
  again → the same refund; 404 unknown payment; 400 ``payment_not_refundable``.
- ``GET /v1/payments/{id}`` — 200 payment or 404.
- ``GET /v1/ledger`` — every payment and PaymentIntent in creation order (an intent's
  ``status`` is ``succeeded``, ``declined``, ``canceled`` or its Stripe status, with
  ``intentStatus`` and ``statusHistory``) and per-currency totals.
- ``GET /healthz`` — 200.

The Stripe-compatible endpoints (``/v1/payment_intents…``, ``/v1/refunds``) that the Stripe
adapter talks to are in :mod:`ticketmaster.sandbox.stripe_api`, with Stripe's own
idempotency semantics (a stored 500 is replayed) — unlike ``/v1/payments`` above, whose
test tokens keep the sandbox provider's contract (a fault happens once, a retry succeeds).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Header
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ticketmaster.sandbox.config import DEFAULT_HANG_SECONDS, DEFAULT_LATENCY_MS, DEFAULT_SETTLE_SECONDS
from ticketmaster.sandbox.intents import StripeIntents
from ticketmaster.sandbox.ledger import ChargeRequest, Intent, Ledger, Payment
from ticketmaster.sandbox.processor import PaymentProcessor, SandboxError
from ticketmaster.sandbox.stripe_api import add_stripe_routes

_MAX_KEY_LENGTH = 255


class ChargeBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=False)

    amount_cents: StrictInt = Field(alias="amountCents", gt=0, le=99_999_999)
    currency: str = Field(pattern=r"^[A-Za-z]{3}$")
    payment_token: str = Field(alias="paymentToken", min_length=1, max_length=255)
    metadata: dict[str, str] = Field(default_factory=dict, max_length=50)


def _error(status: int, type_: str, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"type": type_, "code": code, "message": message, **extra}}, status)


def _require_key(key: str | None) -> str:
    if key is None or not key.strip():
        raise SandboxError(
            400, "invalid_request_error", "idempotency_key_missing", "Header Idempotency-Key is required."
        )
    if len(key) > _MAX_KEY_LENGTH:
        raise SandboxError(
            400,
            "invalid_request_error",
            "invalid_request",
            f"Idempotency-Key must be at most {_MAX_KEY_LENGTH} characters.",
        )
    return key


def ledger_report(entries: list[Payment | Intent]) -> dict[str, Any]:
    """All payments plus per-currency totals an auditor can check: net = charged - refunded."""
    payments = [entry.to_json() for entry in entries]
    totals: dict[str, dict[str, int]] = {}
    for p in payments:
        t = totals.setdefault(
            p["currency"],
            {"succeeded": 0, "declined": 0, "refunded": 0, "chargedCents": 0, "refundedCents": 0},
        )
        t[p["status"]] = t.get(p["status"], 0) + 1
        if p["status"] == "succeeded":
            t["chargedCents"] += p["amountCents"]
        if p["refunded"]:
            t["refunded"] += 1
            t["refundedCents"] += p["amountCents"]
    for t in totals.values():
        t["netCents"] = t["chargedCents"] - t["refundedCents"]
    return {"payments": payments, "totals": totals}


def create_sandbox_app(
    latency_min_ms: int = DEFAULT_LATENCY_MS[0],
    latency_max_ms: int = DEFAULT_LATENCY_MS[1],
    hang_seconds: float = DEFAULT_HANG_SECONDS,
    ledger_path: Path | None = None,
    settle_seconds: float = DEFAULT_SETTLE_SECONDS,
) -> FastAPI:
    """A sandbox app; with ``ledger_path`` its ledger is journaled there and reloaded from it."""
    ledger = Ledger(ledger_path)
    processor = PaymentProcessor(
        ledger, latency_ms=(latency_min_ms, latency_max_ms), hang_seconds=hang_seconds
    )
    intents = StripeIntents(
        ledger, processor.latency, hang_seconds=hang_seconds, settle_seconds=settle_seconds
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            ledger.close()

    app = FastAPI(
        title="Ticketmaster payment sandbox",
        version="0.1.0",
        summary="A Stripe-like local payment provider: idempotency keys, latency, declines, faults.",
        lifespan=lifespan,
    )

    @app.exception_handler(SandboxError)
    async def _sandbox_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SandboxError)
        return _error(exc.status, exc.type, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        param = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return _error(
            400,
            "invalid_request_error",
            "invalid_request",
            f"{param or 'body'}: {first.get('msg', 'invalid')}",
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "resource_missing", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
        return _error(exc.status_code, "invalid_request_error", code, f"{request.method} {request.url.path}")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/payments")
    async def create_payment(
        body: ChargeBody, idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None
    ) -> Response:
        request = ChargeRequest(
            amount_cents=body.amount_cents,
            currency=body.currency.upper(),
            payment_token=body.payment_token,
            metadata=body.metadata,
        )
        payment = await processor.charge(_require_key(idempotency_key), request)
        if payment.status == "declined":
            return _error(
                402,
                "card_error",
                "card_declined",
                "Your card was declined.",
                declineCode=payment.decline_code,
                payment=payment.to_json(),
            )
        return JSONResponse(payment.to_json())

    @app.post("/v1/payments/{payment_id}/refund")
    async def refund_payment(
        payment_id: str, idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None
    ) -> Response:
        key = None if idempotency_key is None else _require_key(idempotency_key)
        refund = await processor.refund(payment_id, key)
        return JSONResponse(refund.to_json())

    @app.get("/v1/payments/{payment_id}")
    async def get_payment(payment_id: str) -> Response:
        payment = ledger.payment(payment_id)
        if payment is None:
            raise SandboxError(
                404, "invalid_request_error", "resource_missing", f"No such payment: {payment_id!r}"
            )
        return JSONResponse(payment.to_json())

    @app.get("/v1/ledger")
    async def get_ledger() -> Response:
        intents.settle_due()
        return JSONResponse(ledger_report(list(ledger.entries())))

    add_stripe_routes(app, intents)
    return app
