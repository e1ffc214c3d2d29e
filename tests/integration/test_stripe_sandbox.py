"""The Stripe adapter (official SDK) against the sandbox's Stripe-compatible endpoints, as a
real process: every behaviour the adapter must survive, and that it survives it with one
PaymentIntent per purchase and never two charges (I3)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fleet import eventually
from tests.integration.sandbox_process import Sandbox
from ticketmaster.adapters.payments import (
    CardDeclined,
    Charge,
    InMemoryPaymentRecord,
    PaymentCancelled,
    PaymentRejected,
)
from ticketmaster.adapters.payments.stripe_provider import StripePaymentProvider

API_KEY = "sk_test_sandbox"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
SETTLE_SECONDS = 1.0


@pytest.fixture(autouse=True)
def _clean() -> None:
    """The sandbox keeps nothing in PostgreSQL or Redis: override the package's cleaning fixture."""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path_factory.mktemp("stripe-sandbox"), settle_seconds=SETTLE_SECONDS).start()
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture
async def stripe(sandbox: Sandbox) -> AsyncIterator[StripePaymentProvider]:
    # Client timeout 1 s < tok_timeout's 3 s hang.
    async with StripePaymentProvider(API_KEY, api_base=sandbox.url, timeout=1.0) as p:
        yield p


def key() -> str:
    return f"purchase-{uuid.uuid4()}"


async def charge(p: StripePaymentProvider, k: str, token: str, record: InMemoryPaymentRecord) -> Charge:
    return await p.charge(
        idempotency_key=k,
        amount_cents=1500,
        currency="USD",
        payment_token=token,
        metadata={"purchaseId": k},
        record=record,
    )


async def intents_of(url: str, k: str) -> list[dict[str, Any]]:
    """The ledger's PaymentIntents made for purchase key ``k``."""
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/v1/ledger")
    assert response.status_code == 200
    return [p for p in response.json()["payments"] if p["metadata"].get("purchaseId") == k]


async def test_visa_creates_stores_then_confirms_one_intent(
    stripe: StripePaymentProvider, sandbox: Sandbox
) -> None:
    k, record = key(), InMemoryPaymentRecord()
    paid = await charge(stripe, k, "tok_visa", record)
    assert paid.status == "succeeded"
    assert record.payment_id == paid.id
    [intent] = await intents_of(sandbox.url, k)
    assert (intent["id"], intent["status"], intent["idempotencyKey"]) == (paid.id, "succeeded", k)
    assert intent["statusHistory"] == ["requires_confirmation", "succeeded"]
    assert (intent["amountCents"], intent["currency"]) == (1500, "USD")
    # Asked again, the adapter retrieves the stored intent: the same charge, nothing new.
    assert await charge(stripe, k, "tok_visa", record) == paid
    assert len(await intents_of(sandbox.url, k)) == 1


async def test_a_stored_500_is_replayed_for_its_key(sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url, headers=AUTH) as client:
        created = await client.post(
            "/v1/payment_intents",
            data={"amount": "700", "currency": "usd", "payment_method": "tok_error"},
            headers={"Idempotency-Key": key()},
        )
        intent_id = created.json()["id"]
        confirm_key = {"Idempotency-Key": key()}
        first = await client.post(f"/v1/payment_intents/{intent_id}/confirm", headers=confirm_key)
        again = await client.post(f"/v1/payment_intents/{intent_id}/confirm", headers=confirm_key)
        still = await client.get(f"/v1/payment_intents/{intent_id}")
        fresh = await client.post(
            f"/v1/payment_intents/{intent_id}/confirm", headers={"Idempotency-Key": key()}
        )
    assert created.json()["status"] == "requires_confirmation"
    assert (first.status_code, first.headers["Stripe-Should-Retry"]) == (500, "false")
    assert (again.status_code, again.json(), again.headers["Stripe-Should-Retry"]) == (
        500,
        first.json(),
        "false",
    )
    assert again.headers["Idempotent-Replayed"] == "true"
    assert still.json()["status"] == "requires_confirmation", "the 500 charged nothing"
    assert (fresh.status_code, fresh.json()["status"]) == (200, "succeeded")


async def test_a_stored_500_on_confirm_is_resolved_by_retrieving(
    stripe: StripePaymentProvider, sandbox: Sandbox
) -> None:
    k, record = key(), InMemoryPaymentRecord()
    paid = await charge(stripe, k, "tok_error", record)
    assert paid.status == "succeeded"
    [intent] = await intents_of(sandbox.url, k)
    assert (intent["id"], intent["status"]) == (paid.id, "succeeded")
    assert intent["statusHistory"] == ["requires_confirmation", "succeeded"]


async def test_charged_then_a_stored_500_is_one_charge(
    stripe: StripePaymentProvider, sandbox: Sandbox
) -> None:
    k, record = key(), InMemoryPaymentRecord()
    paid = await charge(stripe, k, "tok_errorAfterCharge", record)
    assert paid.status == "succeeded"
    assert await charge(stripe, k, "tok_errorAfterCharge", record) == paid
    [intent] = await intents_of(sandbox.url, k)
    assert (intent["id"], intent["status"], intent["refunded"]) == (paid.id, "succeeded", False)


async def test_a_stored_500_on_create_moves_to_a_fresh_key(
    stripe: StripePaymentProvider, sandbox: Sandbox
) -> None:
    k, record = key(), InMemoryPaymentRecord()
    paid = await charge(stripe, k, "tok_createError", record)
    assert paid.status == "succeeded"
    [intent] = await intents_of(sandbox.url, k)
    assert (intent["id"], intent["idempotencyKey"]) == (paid.id, f"{k}:2")
    # Without the record (another worker, before the id was stored), the same sequence of
    # keys leads to the same intent: still one.
    again = await charge(stripe, k, "tok_createError", InMemoryPaymentRecord())
    assert again == paid
    assert len(await intents_of(sandbox.url, k)) == 1


async def test_a_lost_answer_is_resolved_by_retrieving(
    stripe: StripePaymentProvider, sandbox: Sandbox
) -> None:
    k, record = key(), InMemoryPaymentRecord()
    paid = await charge(stripe, k, "tok_timeout", record)  # the confirm charged, then hung past 1 s
    assert paid.status == "succeeded"
    [intent] = await intents_of(sandbox.url, k)
    assert (intent["id"], intent["status"]) == (paid.id, "succeeded")


async def test_processing_settles_later(stripe: StripePaymentProvider, sandbox: Sandbox) -> None:
    k, record = key(), InMemoryPaymentRecord()
    first = await charge(stripe, k, "tok_processing", record)
    assert first.status == "processing"

    async def settled() -> Charge | None:
        now = await charge(stripe, k, "tok_processing", record)
        return now if now.status == "succeeded" else None

    paid = await eventually(settled, within=SETTLE_SECONDS + 10, what="the processing intent to settle")
    assert paid.id == first.id
    [intent] = await intents_of(sandbox.url, k)
    assert intent["statusHistory"] == ["requires_confirmation", "processing", "succeeded"]


@pytest.mark.parametrize("token", ["tok_requiresCapture", "tok_requiresAction"])
async def test_an_unexpected_status_is_cancelled(
    stripe: StripePaymentProvider, sandbox: Sandbox, token: str
) -> None:
    k, record = key(), InMemoryPaymentRecord()
    with pytest.raises(PaymentCancelled) as exc:
        await charge(stripe, k, token, record)
    expected = "requires_capture" if token == "tok_requiresCapture" else "requires_action"
    assert (exc.value.status, exc.value.charge_id, exc.value.retryable) == (
        expected,
        record.payment_id,
        False,
    )
    [intent] = await intents_of(sandbox.url, k)
    assert intent["statusHistory"] == ["requires_confirmation", expected, "canceled"]
    assert intent["status"] == "canceled", "no authorisation may stay on the card"
    # Asked again (a worker crashed before recording it): still cancelled, nothing new.
    with pytest.raises(PaymentCancelled):
        await charge(stripe, k, token, record)
    assert len(await intents_of(sandbox.url, k)) == 1


async def test_declined_card(stripe: StripePaymentProvider, sandbox: Sandbox) -> None:
    k, record = key(), InMemoryPaymentRecord()
    with pytest.raises(CardDeclined) as exc:
        await charge(stripe, k, "tok_chargeDeclined", record)
    assert (exc.value.code, exc.value.charge_id) == ("card_declined", record.payment_id)
    with pytest.raises(CardDeclined):
        await charge(stripe, k, "tok_chargeDeclined", record)
    [intent] = await intents_of(sandbox.url, k)
    assert (intent["status"], intent["declineCode"]) == ("declined", "card_declined")


async def test_abandon_cancels_what_has_not_moved_money(
    stripe: StripePaymentProvider, sandbox: Sandbox
) -> None:
    never = key()
    assert (
        await stripe.abandon(
            idempotency_key=never, amount_cents=1, currency="USD", payment_token="tok_visa", record=None
        )
        is None
    )
    assert await intents_of(sandbox.url, never) == []

    k = key()
    async with httpx.AsyncClient(base_url=sandbox.url, headers=AUTH) as client:
        created = await client.post(
            "/v1/payment_intents",
            data={
                "amount": "900",
                "currency": "usd",
                "payment_method": "tok_visa",
                "metadata[purchaseId]": k,
            },
            headers={"Idempotency-Key": k},
        )
    record = InMemoryPaymentRecord(created.json()["id"])
    abandoned = await stripe.abandon(
        idempotency_key=k, amount_cents=900, currency="USD", payment_token="tok_visa", record=record
    )
    assert abandoned is None
    [intent] = await intents_of(sandbox.url, k)
    assert intent["statusHistory"] == ["requires_confirmation", "canceled"]
    # A cancelled intent cannot be charged any more, whoever tries.
    with pytest.raises(PaymentCancelled):
        await stripe.charge(
            idempotency_key=k, amount_cents=900, currency="USD", payment_token="tok_visa", record=record
        )


async def test_abandon_reports_money_that_moved(stripe: StripePaymentProvider, sandbox: Sandbox) -> None:
    k, record = key(), InMemoryPaymentRecord()
    paid = await charge(stripe, k, "tok_visa", record)
    assert (
        await stripe.abandon(
            idempotency_key=k, amount_cents=1500, currency="USD", payment_token="tok_visa", record=record
        )
        == paid
    )
    refund = await stripe.refund(charge_id=paid.id, idempotency_key=f"refund-{k}")
    assert (refund.charge_id, refund.status) == (paid.id, "succeeded")
    assert await stripe.refund(charge_id=paid.id, idempotency_key=f"refund-{k}") == refund
    with pytest.raises(PaymentRejected) as twice:
        await stripe.refund(charge_id=paid.id, idempotency_key=key())
    assert twice.value.code == "charge_already_refunded"
    [intent] = await intents_of(sandbox.url, k)
    assert (intent["status"], intent["refunded"], intent["refundId"]) == ("succeeded", True, refund.id)


async def test_concurrent_charges_of_one_purchase_confirm_one_intent(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Workers racing on one purchase (a lease taken over mid-call) meet one intent, one charge."""
    slow = await asyncio.to_thread(Sandbox(tmp_path, latency="200:200").start)
    k = key()
    try:
        async with StripePaymentProvider(API_KEY, api_base=slow.url, timeout=5.0) as p:
            results = await asyncio.gather(
                *(charge(p, k, "tok_visa", InMemoryPaymentRecord()) for _ in range(8)), return_exceptions=True
            )
            # Whoever lost the race to the intent's state learns the outcome by retrieving it.
            settled = [await charge(p, k, "tok_visa", InMemoryPaymentRecord()) for _ in range(2)]
        intents = await intents_of(slow.url, k)
    finally:
        await asyncio.to_thread(slow.stop)
    charges = {r for r in results if isinstance(r, Charge)} | set(settled)
    assert len(charges) == 1, results
    [intent] = intents
    assert intent["statusHistory"] == ["requires_confirmation", "succeeded"]


async def test_intents_and_stored_answers_survive_a_restart(tmp_path: Path) -> None:
    box = await asyncio.to_thread(Sandbox(tmp_path, ledger=tmp_path / "ledger.jsonl").start)
    k = key()
    try:
        async with httpx.AsyncClient(base_url=box.url, headers=AUTH) as client:
            created = await client.post(
                "/v1/payment_intents",
                data={"amount": "300", "currency": "usd", "payment_method": "tok_error"},
                headers={"Idempotency-Key": k},
            )
            intent_id = created.json()["id"]
            failed = await client.post(
                f"/v1/payment_intents/{intent_id}/confirm", headers={"Idempotency-Key": k + "c"}
            )
            before = (await client.get("/v1/ledger")).json()
    finally:
        await asyncio.to_thread(box.stop)
    await asyncio.to_thread(box.start)
    try:
        async with httpx.AsyncClient(base_url=box.url, headers=AUTH) as client:
            assert (await client.get("/v1/ledger")).json() == before
            replayed = await client.post(
                f"/v1/payment_intents/{intent_id}/confirm", headers={"Idempotency-Key": k + "c"}
            )
            again = await client.post(
                "/v1/payment_intents",
                data={"amount": "300", "currency": "usd", "payment_method": "tok_error"},
                headers={"Idempotency-Key": k},
            )
    finally:
        await asyncio.to_thread(box.stop)
    assert (replayed.status_code, replayed.json()) == (500, failed.json())
    assert again.json() == created.json()


async def test_stripe_http_edges(sandbox: Sandbox) -> None:
    intent = {"amount": "100", "currency": "usd", "payment_method": "tok_visa"}
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        no_key = await client.post("/v1/payment_intents", data=intent)
        authed = {**AUTH, "Idempotency-Key": key()}
        bad_amount = await client.post("/v1/payment_intents", data={**intent, "amount": "x"}, headers=authed)
        unknown_method = await client.post(
            "/v1/payment_intents", data={**intent, "payment_method": "pm_bogus"}, headers=authed
        )
        first = await client.post("/v1/payment_intents", data=intent, headers=authed)
        reused = await client.post("/v1/payment_intents", data={**intent, "amount": "101"}, headers=authed)
        missing = await client.get("/v1/payment_intents/pi_nope", headers=AUTH)
    assert (no_key.status_code, no_key.json()["error"]["type"]) == (401, "invalid_request_error")
    assert (bad_amount.status_code, bad_amount.json()["error"]["code"]) == (400, "parameter_invalid_integer")
    assert (unknown_method.status_code, unknown_method.json()["error"]["code"]) == (400, "resource_missing")
    assert first.status_code == 200, "refusals before executing store nothing under the key"
    assert (reused.status_code, reused.json()["error"]["type"]) == (400, "idempotency_error")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "resource_missing")
