"""The Stripe adapter against a local stub speaking Stripe's wire format (no network).

The stub is a real HTTP server in a thread: the official SDK really encodes, sends and
decodes, and the tests check what reached the wire and how Stripe's answers are mapped.
(tests/integration/test_stripe_sandbox.py runs the adapter against the sandbox's
Stripe-compatible endpoints; these pin down the exact requests for each answer.)
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
    InMemoryPaymentRecord,
    PaymentCancelled,
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


Reply = tuple[int, dict[str, Any]] | tuple[int, dict[str, Any], dict[str, str]]


@dataclass
class StubStripe:
    """Answers each request with the next scripted reply: (status, body[, headers]), or
    ``HANG`` (never answer in time)."""

    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    replies: list[Reply | object] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


def _handler(stub: StubStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            self._answer(parse_qs(self.rfile.read(length).decode()))

        def do_GET(self) -> None:
            self._answer({})

        def _answer(self, form: dict[str, list[str]]) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            stub.seen.append(Seen(self.command, self.path, headers, form))
            reply = stub.replies.pop(0)
            if reply is HANG:
                stub.release.wait(30)
                return
            assert isinstance(reply, tuple)
            status, body, extra = (*reply, {}) if len(reply) == 2 else reply
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Request-Id", "req_stub")
            for name, value in extra.items():
                self.send_header(name, value)
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
        "last_payment_error": None,  # Stripe always sends it
        **extra,
    }


async def charge(
    p: StripePaymentProvider, key: str = "hold-1:attempt-1", record: InMemoryPaymentRecord | None = None
) -> Charge:
    return await p.charge(
        idempotency_key=key,
        amount_cents=1500,
        currency="USD",
        payment_token="pm_card_visa",
        metadata={"holdId": "hld_1", "purchaseId": "pur_1"},
        record=record,
    )


CREATED = (200, intent("requires_confirmation"))
STORED_500 = (500, {"error": {"type": "api_error", "message": "stored"}}, {"Stripe-Should-Retry": "false"})


async def test_charge_creates_stores_and_confirms_one_payment_intent(
    stub: StubStripe, stripe_provider: StripePaymentProvider
) -> None:
    stub.replies += [CREATED, (200, intent("succeeded"))]
    record = InMemoryPaymentRecord()
    assert await charge(stripe_provider, "pur_1", record) == Charge(id="pi_123", status="succeeded")
    assert record.payment_id == "pi_123"
    create, confirm = stub.seen
    assert (create.method, create.path) == ("POST", "/v1/payment_intents")
    assert create.headers["idempotency-key"] == "pur_1"
    assert create.headers["authorization"] == f"Bearer {API_KEY}"
    assert create.form == {
        "amount": ["1500"],
        "currency": ["usd"],
        "payment_method": ["pm_card_visa"],
        "automatic_payment_methods[enabled]": ["true"],
        "automatic_payment_methods[allow_redirects]": ["never"],
        "metadata[holdId]": ["hld_1"],
        "metadata[purchaseId]": ["pur_1"],
    }
    assert (confirm.method, confirm.path) == ("POST", "/v1/payment_intents/pi_123/confirm")
    assert confirm.headers["idempotency-key"] == "pur_1:confirm"


async def test_a_stored_intent_is_retrieved_not_created_again(
    stub: StubStripe, stripe_provider: StripePaymentProvider
) -> None:
    stub.replies.append((200, intent("succeeded")))
    record = InMemoryPaymentRecord("pi_123")
    assert await charge(stripe_provider, "pur_1", record) == Charge(id="pi_123", status="succeeded")
    assert [(s.method, s.path) for s in stub.seen] == [("GET", "/v1/payment_intents/pi_123")]


async def test_another_workers_stored_intent_wins(
    stub: StubStripe, stripe_provider: StripePaymentProvider
) -> None:
    class Taken(InMemoryPaymentRecord):
        async def remember(self, payment_id: str) -> str:
            return "pi_first"

    stub.replies += [CREATED, (200, intent("succeeded", id="pi_first"))]
    assert await charge(stripe_provider, "pur_1", Taken()) == Charge(id="pi_first", status="succeeded")
    assert [(s.method, s.path) for s in stub.seen] == [
        ("POST", "/v1/payment_intents"),
        ("GET", "/v1/payment_intents/pi_first"),
    ]


async def test_a_stored_500_on_confirm_is_resolved_by_retrieving(
    stub: StubStripe, stripe_provider: StripePaymentProvider
) -> None:
    stub.replies += [CREATED, STORED_500, (200, intent("succeeded"))]
    assert await charge(stripe_provider, "pur_1") == Charge(id="pi_123", status="succeeded")
    assert [(s.method, s.path) for s in stub.seen][1:] == [
        ("POST", "/v1/payment_intents/pi_123/confirm"),
        ("GET", "/v1/payment_intents/pi_123"),
    ]


async def test_a_stored_500_that_charged_nothing_confirms_under_a_fresh_key(
    stub: StubStripe, stripe_provider: StripePaymentProvider
) -> None:
    stub.replies += [CREATED, STORED_500, CREATED, (200, intent("succeeded"))]
    assert await charge(stripe_provider, "pur_1") == Charge(id="pi_123", status="succeeded")
    confirms = [s.headers["idempotency-key"] for s in stub.seen if s.path.endswith("/confirm")]
    assert confirms == ["pur_1:confirm", "pur_1:confirm:2"]


async def test_should_retry_true_keeps_the_key_for_later(
    stub: StubStripe, stripe_provider: StripePaymentProvider
) -> None:
    busy = (
        409,
        {"error": {"type": "idempotency_error", "message": "in use"}},
        {"Stripe-Should-Retry": "true"},
    )
    stub.replies += [CREATED, busy, CREATED]
    with pytest.raises(ProviderError) as exc:
        await charge(stripe_provider, "pur_1")
    assert exc.value.retryable
    assert len(stub.seen) == 3, "one confirm, one retrieve: no second confirm under a fresh key"


async def test_a_stored_500_on_create_moves_to_the_next_key(
    stub: StubStripe, stripe_provider: StripePaymentProvider
) -> None:
    stub.replies += [STORED_500, CREATED, (200, intent("succeeded"))]
    assert await charge(stripe_provider, "pur_1") == Charge(id="pi_123", status="succeeded")
    assert [s.headers["idempotency-key"] for s in stub.seen] == ["pur_1", "pur_1:2", "pur_1:confirm"]


@pytest.mark.parametrize("status", ["requires_action", "requires_capture", "requires_payment_method"])
async def test_a_status_we_never_ask_for_is_cancelled(
    stub: StubStripe, stripe_provider: StripePaymentProvider, status: str
) -> None:
    stub.replies += [CREATED, (200, intent(status)), (200, intent("canceled"))]
    with pytest.raises(PaymentCancelled) as exc:
        await charge(stripe_provider, "pur_1")
    assert (exc.value.status, exc.value.charge_id, exc.value.retryable) == (status, "pi_123", False)
    cancel = stub.seen[-1]
    assert (cancel.path, cancel.headers["idempotency-key"]) == (
        "/v1/payment_intents/pi_123/cancel",
        "pur_1:cancel",
    )


async def test_a_lost_cancel_is_checked_by_retrieving(
    stub: StubStripe, stripe_provider: StripePaymentProvider
) -> None:
    stub.replies += [CREATED, (200, intent("requires_capture")), STORED_500, (200, intent("canceled"))]
    with pytest.raises(PaymentCancelled) as exc:
        await charge(stripe_provider, "pur_1")
    assert exc.value.status == "requires_capture"
    assert [(s.method, s.path) for s in stub.seen][-2:] == [
        ("POST", "/v1/payment_intents/pi_123/cancel"),
        ("GET", "/v1/payment_intents/pi_123"),
    ]


async def test_abandon_cancels_or_reports_the_stored_intent(
    stub: StubStripe, stripe_provider: StripePaymentProvider
) -> None:
    async def abandon(record: InMemoryPaymentRecord) -> Charge | None:
        return await stripe_provider.abandon(
            idempotency_key="pur_1",
            amount_cents=1500,
            currency="USD",
            payment_token="pm_card_visa",
            record=record,
        )

    assert await abandon(InMemoryPaymentRecord()) is None
    assert stub.seen == [], "no intent on record: nothing to ask, nothing to charge"
    stub.replies += [CREATED, (200, intent("canceled"))]
    assert await abandon(InMemoryPaymentRecord("pi_123")) is None
    assert [(s.method, s.path) for s in stub.seen] == [
        ("GET", "/v1/payment_intents/pi_123"),
        ("POST", "/v1/payment_intents/pi_123/cancel"),
    ]
    stub.replies += [(200, intent("processing"))]
    assert await abandon(InMemoryPaymentRecord("pi_123")) == Charge(id="pi_123", status="processing")
    assert not any(s.path.endswith("/confirm") for s in stub.seen)


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
    stub.replies += [CREATED, (200, intent("processing"))]
    assert await charge(stripe_provider) == Charge(id="pi_123", status="processing")


async def test_failed_intent_is_a_decline(stub: StubStripe, stripe_provider: StripePaymentProvider) -> None:
    last_error = {"type": "card_error", "code": "insufficient_funds", "message": "Insufficient funds."}
    stub.replies += [CREATED, (200, intent("requires_payment_method", last_payment_error=last_error))]
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


async def test_a_declined_confirm_is_a_decline(
    stub: StubStripe, stripe_provider: StripePaymentProvider
) -> None:
    declined = intent("requires_payment_method", id="pi_123", last_payment_error={"code": "card_declined"})
    stub.replies += [CREATED, (402, _error("card_error", "card_declined", payment_intent=declined))]
    with pytest.raises(CardDeclined) as exc:
        await charge(stripe_provider)
    assert (exc.value.code, exc.value.charge_id) == ("card_declined", "pi_123")


async def test_no_answer_in_time_is_a_retryable_timeout(stub: StubStripe) -> None:
    stub.replies.append(HANG)  # the create: the next attempt sends it again under its key
    async with StripePaymentProvider(API_KEY, api_base=stub.url, timeout=0.5) as p:
        with pytest.raises(PaymentTimeout) as exc:
            await charge(p)
    assert exc.value.retryable


async def test_unreachable_stripe_is_a_retryable_timeout() -> None:
    async with StripePaymentProvider(API_KEY, api_base=f"http://127.0.0.1:{free_port()}", timeout=2.0) as p:
        with pytest.raises(PaymentTimeout) as exc:
            await charge(p)
    assert exc.value.retryable
