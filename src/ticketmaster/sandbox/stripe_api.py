"""The sandbox's Stripe-compatible HTTP face: the endpoints the official ``stripe`` SDK calls.

Requests are form-encoded with bracketed keys (``metadata[purchaseId]=…``), as the SDK
sends them; answers are Stripe's JSON objects and errors; ``Authorization: Bearer <key>``
is required (any key). Point the Stripe adapter here with ``TICKETMASTER_STRIPE_API_BASE``.

- ``POST /v1/payment_intents`` — ``amount``, ``currency``, ``payment_method`` (a test
  method of :mod:`ticketmaster.sandbox.intents`), ``metadata[…]``, ``confirm``.
- ``GET /v1/payment_intents/{id}``; ``POST /v1/payment_intents/{id}/confirm``
  (``error_on_requires_action``); ``POST /v1/payment_intents/{id}/cancel``.
- ``POST /v1/refunds`` — ``payment_intent``: a full refund.

Every call takes the sandbox's latency; POSTs follow Stripe's idempotency rules.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ticketmaster.sandbox.intents import Answer, StripeIntents
from ticketmaster.sandbox.ledger import ChargeRequest, new_id
from ticketmaster.sandbox.processor import SandboxError

_MAX_KEY_LENGTH = 255


def _invalid(param: str, message: str, code: str = "parameter_invalid") -> SandboxError:
    return SandboxError(400, "invalid_request_error", code, f"{param}: {message}")


async def _form(request: Request) -> dict[str, Any]:
    """The form body, ``a[b]=c`` folded into ``{"a": {"b": "c"}}`` (one level, as used here)."""
    params: dict[str, Any] = {}
    for name, value in parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True):
        outer, bracket, inner = name.partition("[")
        if bracket:
            nested = params.setdefault(outer, {})
            if not isinstance(nested, dict):
                raise _invalid(outer, "is both a value and a hash")
            nested[inner.rstrip("]")] = value
        else:
            params[name] = value
    return params


def _text(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise _invalid(name, "is required", "parameter_missing")
    return value


def _flag(params: dict[str, Any], name: str) -> bool:
    return params.get(name) == "true"


def _charge_request(params: dict[str, Any]) -> ChargeRequest:
    try:
        amount = int(_text(params, "amount"))
    except ValueError:
        raise _invalid("amount", "must be an integer", "parameter_invalid_integer") from None
    if not 0 < amount <= 99_999_999:
        raise _invalid("amount", "must be between 1 and 99999999")
    currency = _text(params, "currency")
    if len(currency) != 3 or not currency.isalpha():
        raise _invalid("currency", "must be a 3-letter ISO code")
    metadata = params.get("metadata", {})
    if not isinstance(metadata, dict) or len(metadata) > 50:
        raise _invalid("metadata", "must be a hash of at most 50 keys")
    return ChargeRequest(amount, currency.upper(), _text(params, "payment_method"), dict(metadata))


def _authorised(request: Request) -> None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise SandboxError(401, "invalid_request_error", "api_key_missing", "You did not provide an API key.")


def _key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not 0 < len(key) <= _MAX_KEY_LENGTH:
        raise _invalid("Idempotency-Key", f"must be 1 to {_MAX_KEY_LENGTH} characters")
    return key


def _fingerprint(request: Request, params: dict[str, Any]) -> str:
    return (
        f"{request.method} {request.url.path} " + orjson.dumps(params, option=orjson.OPT_SORT_KEYS).decode()
    )


def _send(answer: Answer) -> Response:
    headers = {"Request-Id": new_id("req"), **answer.headers}
    return JSONResponse(answer.body, answer.status, headers=headers)


def add_stripe_routes(app: FastAPI, intents: StripeIntents) -> None:
    """Mount the Stripe-compatible endpoints on the sandbox app."""

    @app.post("/v1/payment_intents")
    async def create_intent(request: Request) -> Response:
        _authorised(request)
        params = await _form(request)
        answer = await intents.create(
            _key(request),
            _fingerprint(request, params),
            _charge_request(params),
            confirm=_flag(params, "confirm"),
            no_action=_flag(params, "error_on_requires_action"),
        )
        return _send(answer)

    @app.get("/v1/payment_intents/{intent_id}")
    async def retrieve_intent(intent_id: str, request: Request) -> Response:
        _authorised(request)
        return _send(await intents.retrieve(intent_id))

    @app.post("/v1/payment_intents/{intent_id}/confirm")
    async def confirm_intent(intent_id: str, request: Request) -> Response:
        _authorised(request)
        params = await _form(request)
        no_action = _flag(params, "error_on_requires_action")
        fingerprint = _fingerprint(request, params)
        return _send(await intents.confirm(intent_id, _key(request), fingerprint, no_action=no_action))

    @app.post("/v1/payment_intents/{intent_id}/cancel")
    async def cancel_intent(intent_id: str, request: Request) -> Response:
        _authorised(request)
        params = await _form(request)
        return _send(await intents.cancel(intent_id, _key(request), _fingerprint(request, params)))

    @app.post("/v1/refunds")
    async def create_refund(request: Request) -> Response:
        _authorised(request)
        params = await _form(request)
        intent_id = _text(params, "payment_intent")
        return _send(await intents.refund(intent_id, _key(request), _fingerprint(request, params)))
