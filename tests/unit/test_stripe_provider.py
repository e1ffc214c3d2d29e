"""The Stripe adapter against a local stub speaking Stripe's wire format (no network).

The stub is a real HTTP server in a thread: the official SDK really encodes, sends and
decodes, and the tests check what reached the wire and how Stripe's answers are mapped.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.conftest import free_port
from ticketmaster.adapters.payments import (
    CardDeclined,
    Charge,
    IdempotencyMismatch,
    PaymentError,
    PaymentRejected,
    PaymentTimeout,
    ProviderError,
    Refund,
)
from ticketmaster.adapters.payments.stripe_provider import StripePaymentProvider

API_KEY = "sk_test_stub"
HANG = object()


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, list[str]]


@dataclass
class StubStripe:
    """Answers each request with the next scripted reply (``HANG``: never answer in time)."""

    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    replies: list[tuple[int, dict[str, Any]] | object] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


def _handler(stub: StubStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = parse_qs(self.rfile.read(length).decode())
            stub.seen.append(Seen("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, form))
            reply = stub.replies.pop(0)
            if reply is HANG:
                stub.release.wait(30)
                return
            assert isinstance(reply, tuple)
            status, body = reply
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Request-Id", "req_stub")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def stub() -> Iterator[StubStripe]:
    state = StubStripe()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
async def stripe_provider(stub: StubStripe) -> AsyncIterator[StripePaymentProvider]:
    async with StripePaymentProvider(API_KEY, api_base=stub.url, timeout=2.0) as p:
        yield p


def intent(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "pi_123",
        "object": "payment_intent",
        "status": status,
        "amount": 1500,
        "currency": "usd",
        **extra,
    }


async def charge(p: StripePaymentProvider, key: str = "hold-1:attempt-1") -> Charge:
    return await p.charge(
        idempotency_key=key,
        amount_cents=1500,
        currency="USD",
        payment_token="pm_card_visa",
        metadata={"holdId": "hld_1", "purchaseId": "pur_1"},
    )


async def test_charge_creates_and_confirms_one_payment_intent(
    stub: StubStripe, stripe_provider: StripePaymentProvider
) -> None:
    stub.replies.append((200, intent("succeeded")))
    assert await charge(stripe_provider, "pur_1") == Charge(id="pi_123", status="succeeded")
    [seen] = stub.seen
    assert (seen.method, seen.path) == ("POST", "/v1/payment_intents")
    assert seen.headers["idempotency-key"] == "pur_1"
    assert seen.headers["authorization"] == f"Bearer {API_KEY}"
    assert seen.form == {
        "amount": ["1500"],
        "currency": ["usd"],
        "payment_method": ["pm_card_visa"],
        "confirm": ["true"],
        "automatic_payment_methods[enabled]": ["true"],
        "automatic_payment_methods[allow_redirects]": ["never"],
        "error_on_requires_action": ["true"],
        "metadata[holdId]": ["hld_1"],
        "metadata[purchaseId]": ["pur_1"],
    }


async def test_refund_refunds_the_payment_intent(
    stub: StubStripe, stripe_provider: StripePaymentProvider
) -> None:
    stub.replies.append(
        (200, {"id": "re_1", "object": "refund", "status": "succeeded", "payment_intent": "pi_123"})
    )
    refund = await stripe_provider.refund(charge_id="pi_123", idempotency_key="refund:pur_1")
    assert refund == Refund(id="re_1", charge_id="pi_123", status="succeeded")
    [seen] = stub.seen
    assert (seen.path, seen.form) == ("/v1/refunds", {"payment_intent": ["pi_123"]})
    assert seen.headers["idempotency-key"] == "refund:pur_1"


async def test_processing_intent_is_not_reported_as_paid(
    stub: StubStripe, stripe_provider: StripePaymentProvider
) -> None:
    stub.replies.append((200, intent("processing")))
    assert await charge(stripe_provider) == Charge(id="pi_123", status="processing")


async def test_failed_intent_is_a_decline(stub: StubStripe, stripe_provider: StripePaymentProvider) -> None:
    last_error = {"type": "card_error", "code": "insufficient_funds", "message": "Insufficient funds."}
    stub.replies.append((200, intent("requires_payment_method", last_payment_error=last_error)))
    with pytest.raises(CardDeclined) as exc:
        await charge(stripe_provider)
    assert (exc.value.code, exc.value.charge_id) == ("insufficient_funds", "pi_123")


def _error(type_: str, code: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": {"type": type_, "code": code, "message": f"stub {type_}", **extra}}


@pytest.mark.parametrize(
    ("status", "body", "expected", "code", "retryable"),
    [
        pytest.param(
            402,
            _error(
                "card_error",
                "card_declined",
                decline_code="generic_decline",
                payment_intent=intent("requires_payment_method", id="pi_declined"),
            ),
            CardDeclined,
            "card_declined",
            False,
            id="card-error",
        ),
        pytest.param(
            400, _error("idempotency_error"), IdempotencyMismatch, "idempotency_key_reused", False, id="idem"
        ),
        pytest.param(
            400,
            _error("invalid_request_error", "resource_missing"),
            PaymentRejected,
            "resource_missing",
            False,
            id="400",
        ),
        pytest.param(500, _error("api_error"), ProviderError, "provider_error", True, id="500"),
        pytest.param(
            429, _error("invalid_request_error", "rate_limit"), ProviderError, "rate_limited", True, id="429"
        ),
        pytest.param(401, _error("invalid_request_error"), ProviderError, "provider_auth", False, id="401"),
    ],
)
async def test_stripe_errors_map_to_typed_errors(
    stub: StubStripe,
    stripe_provider: StripePaymentProvider,
    status: int,
    body: dict[str, Any],
    expected: type[PaymentError],
    code: str,
    retryable: bool,
) -> None:
    stub.replies.append((status, body))
    with pytest.raises(expected) as exc:
        await charge(stripe_provider)
    assert (exc.value.code, exc.value.retryable) == (code, retryable)
    if isinstance(exc.value, CardDeclined):
        assert exc.value.charge_id == "pi_declined"
    assert len(stub.seen) == 1, "the SDK must not retry on its own"


async def test_no_answer_in_time_is_a_retryable_timeout(stub: StubStripe) -> None:
    stub.replies.append(HANG)
    async with StripePaymentProvider(API_KEY, api_base=stub.url, timeout=0.5) as p:
        with pytest.raises(PaymentTimeout) as exc:
            await charge(p)
    assert exc.value.retryable


async def test_unreachable_stripe_is_a_retryable_timeout() -> None:
    async with StripePaymentProvider(API_KEY, api_base=f"http://127.0.0.1:{free_port()}", timeout=2.0) as p:
        with pytest.raises(PaymentTimeout) as exc:
            await charge(p)
    assert exc.value.retryable
