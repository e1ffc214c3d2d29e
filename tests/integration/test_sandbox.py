"""The payment sandbox as a real process, driven over HTTP through ``SandboxPaymentProvider``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.sandbox_process import HANG_SECONDS, Sandbox
from ticketmaster.adapters.payments import (
    CardDeclined,
    IdempotencyMismatch,
    PaymentRejected,
    PaymentTimeout,
    ProviderError,
)
from ticketmaster.adapters.payments.sandbox import SandboxPaymentProvider


@pytest.fixture(autouse=True)
def _clean() -> None:
    """The sandbox keeps nothing in PostgreSQL or Redis: override the package's cleaning fixture."""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path_factory.mktemp("sandbox")).start()
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture(scope="module")
def slow_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """Every charge takes 300 ms, so concurrent duplicates really overlap the first execution."""
    box = Sandbox(tmp_path_factory.mktemp("slow-sandbox"), latency="300:300").start()
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture
async def provider(sandbox: Sandbox) -> AsyncIterator[SandboxPaymentProvider]:
    async with SandboxPaymentProvider(sandbox.url) as p:
        yield p


def key() -> str:
    return f"test-{uuid.uuid4()}"


async def ledger_for(url: str, idempotency_key: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/v1/ledger")
    assert response.status_code == 200
    return [p for p in response.json()["payments"] if p["idempotencyKey"] == idempotency_key]


async def test_visa_charges_once(provider: SandboxPaymentProvider, sandbox: Sandbox) -> None:
    k = key()
    charge = await provider.charge(
        idempotency_key=k,
        amount_cents=4200,
        currency="USD",
        payment_token="tok_visa",
        metadata={"holdId": "h1"},
    )
    assert charge.status == "succeeded"
    [entry] = await ledger_for(sandbox.url, k)
    assert entry["id"] == charge.id
    assert entry["status"] == "succeeded"
    assert (entry["amountCents"], entry["currency"], entry["metadata"]) == (4200, "USD", {"holdId": "h1"})
    assert entry["refunded"] is False
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        assert (await client.get(f"/v1/payments/{charge.id}")).json() == entry


async def test_same_key_twice_returns_the_same_charge(
    provider: SandboxPaymentProvider, sandbox: Sandbox
) -> None:
    k = key()
    first = await provider.charge(
        idempotency_key=k, amount_cents=100, currency="EUR", payment_token="tok_visa"
    )
    again = await provider.charge(
        idempotency_key=k, amount_cents=100, currency="EUR", payment_token="tok_visa"
    )
    assert again == first
    assert len(await ledger_for(sandbox.url, k)) == 1


async def test_concurrent_duplicates_share_one_charge(slow_sandbox: Sandbox) -> None:
    k = key()
    async with SandboxPaymentProvider(slow_sandbox.url) as p:
        charges = await asyncio.gather(
            *(
                p.charge(idempotency_key=k, amount_cents=990, currency="USD", payment_token="tok_visa")
                for _ in range(20)
            )
        )
    assert {c.id for c in charges} == {charges[0].id}
    assert all(c.status == "succeeded" for c in charges)
    assert len(await ledger_for(slow_sandbox.url, k)) == 1


async def test_same_key_other_parameters_is_refused(
    provider: SandboxPaymentProvider, sandbox: Sandbox
) -> None:
    k = key()
    await provider.charge(idempotency_key=k, amount_cents=500, currency="USD", payment_token="tok_visa")
    with pytest.raises(IdempotencyMismatch) as exc:
        await provider.charge(idempotency_key=k, amount_cents=501, currency="USD", payment_token="tok_visa")
    assert not exc.value.retryable
    with pytest.raises(IdempotencyMismatch):
        await provider.charge(
            idempotency_key=k, amount_cents=500, currency="USD", payment_token="tok_visa", metadata={"x": "y"}
        )
    assert len(await ledger_for(sandbox.url, k)) == 1


async def test_declined_card_is_recorded_and_replayed(
    provider: SandboxPaymentProvider, sandbox: Sandbox
) -> None:
    k = key()
    with pytest.raises(CardDeclined) as first:
        await provider.charge(
            idempotency_key=k, amount_cents=700, currency="USD", payment_token="tok_chargeDeclined"
        )
    assert first.value.code == "card_declined"
    assert not first.value.retryable
    with pytest.raises(CardDeclined) as again:
        await provider.charge(
            idempotency_key=k, amount_cents=700, currency="USD", payment_token="tok_chargeDeclined"
        )
    assert again.value.charge_id == first.value.charge_id is not None
    [entry] = await ledger_for(sandbox.url, k)
    assert (entry["id"], entry["status"]) == (first.value.charge_id, "declined")


async def test_timeout_then_retry_charges_exactly_once(sandbox: Sandbox) -> None:
    k = key()
    async with SandboxPaymentProvider(sandbox.url, timeout=1.0) as p:
        with pytest.raises(PaymentTimeout) as exc:
            await p.charge(idempotency_key=k, amount_cents=1200, currency="USD", payment_token="tok_timeout")
        assert exc.value.retryable
        # The first attempt is still hanging on the server: the retry must not wait for it.
        charge = await p.charge(
            idempotency_key=k, amount_cents=1200, currency="USD", payment_token="tok_timeout"
        )
        assert charge.status == "succeeded"
        assert (
            await p.charge(idempotency_key=k, amount_cents=1200, currency="USD", payment_token="tok_timeout")
            == charge
        )
    [entry] = await ledger_for(sandbox.url, k)
    assert (entry["id"], entry["status"]) == (charge.id, "succeeded")


async def test_hung_attempt_ends_in_504_without_charging(sandbox: Sandbox) -> None:
    k = key()
    body = {"amountCents": 300, "currency": "USD", "paymentToken": "tok_timeout"}
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=HANG_SECONDS + 10) as client:
        response = await client.post("/v1/payments", json=body, headers={"Idempotency-Key": k})
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "timeout"
    assert await ledger_for(sandbox.url, k) == []


async def test_provider_error_then_retry_charges_exactly_once(
    provider: SandboxPaymentProvider, sandbox: Sandbox
) -> None:
    k = key()
    with pytest.raises(ProviderError) as exc:
        await provider.charge(idempotency_key=k, amount_cents=800, currency="USD", payment_token="tok_error")
    assert exc.value.retryable
    assert await ledger_for(sandbox.url, k) == []
    charge = await provider.charge(
        idempotency_key=k, amount_cents=800, currency="USD", payment_token="tok_error"
    )
    assert charge.status == "succeeded"
    assert [e["id"] for e in await ledger_for(sandbox.url, k)] == [charge.id]


async def test_unknown_token_is_rejected_and_not_recorded(
    provider: SandboxPaymentProvider, sandbox: Sandbox
) -> None:
    k = key()
    with pytest.raises(PaymentRejected) as exc:
        await provider.charge(idempotency_key=k, amount_cents=100, currency="USD", payment_token="tok_bogus")
    assert exc.value.code == "invalid_token"
    assert await ledger_for(sandbox.url, k) == []


async def test_refund_is_idempotent(provider: SandboxPaymentProvider, sandbox: Sandbox) -> None:
    k = key()
    charge = await provider.charge(
        idempotency_key=k, amount_cents=2500, currency="USD", payment_token="tok_visa"
    )
    refund = await provider.refund(charge_id=charge.id, idempotency_key=f"refund-{k}")
    assert (refund.charge_id, refund.status) == (charge.id, "succeeded")
    assert await provider.refund(charge_id=charge.id, idempotency_key=f"refund-{k}") == refund
    # One full refund per payment, whichever key asks again.
    assert await provider.refund(charge_id=charge.id, idempotency_key=key()) == refund
    [entry] = await ledger_for(sandbox.url, k)
    assert (entry["refunded"], entry["refundId"]) == (True, refund.id)


async def test_concurrent_refunds_refund_once(slow_sandbox: Sandbox) -> None:
    k = key()
    async with SandboxPaymentProvider(slow_sandbox.url) as p:
        charge = await p.charge(idempotency_key=k, amount_cents=600, currency="USD", payment_token="tok_visa")
        refunds = await asyncio.gather(
            *(p.refund(charge_id=charge.id, idempotency_key=f"refund-{k}") for _ in range(10))
        )
    assert {r.id for r in refunds} == {refunds[0].id}


async def test_refund_refusals(provider: SandboxPaymentProvider) -> None:
    declined_key = key()
    with pytest.raises(CardDeclined) as declined:
        await provider.charge(
            idempotency_key=declined_key, amount_cents=100, currency="USD", payment_token="tok_chargeDeclined"
        )
    assert declined.value.charge_id is not None
    with pytest.raises(PaymentRejected) as not_paid:
        await provider.refund(charge_id=declined.value.charge_id, idempotency_key=key())
    assert not_paid.value.code == "payment_not_refundable"
    with pytest.raises(PaymentRejected) as unknown:
        await provider.refund(charge_id="pay_missing", idempotency_key=key())
    assert unknown.value.code == "resource_missing"

    refund_key = key()
    first = await provider.charge(
        idempotency_key=key(), amount_cents=100, currency="USD", payment_token="tok_visa"
    )
    other = await provider.charge(
        idempotency_key=key(), amount_cents=100, currency="USD", payment_token="tok_visa"
    )
    await provider.refund(charge_id=first.id, idempotency_key=refund_key)
    with pytest.raises(IdempotencyMismatch):
        await provider.refund(charge_id=other.id, idempotency_key=refund_key)


async def test_ledger_totals_net_out_refunds(tmp_path: Path) -> None:
    box = await asyncio.to_thread(Sandbox(tmp_path).start)
    try:
        async with SandboxPaymentProvider(box.url) as p:
            kept = await p.charge(
                idempotency_key=key(), amount_cents=1000, currency="USD", payment_token="tok_visa"
            )
            refunded = await p.charge(
                idempotency_key=key(), amount_cents=300, currency="USD", payment_token="tok_visa"
            )
            await p.refund(charge_id=refunded.id, idempotency_key=key())
            with pytest.raises(CardDeclined):
                await p.charge(
                    idempotency_key=key(), amount_cents=50, currency="USD", payment_token="tok_chargeDeclined"
                )
        async with httpx.AsyncClient(base_url=box.url) as client:
            report = (await client.get("/v1/ledger")).json()
    finally:
        await asyncio.to_thread(box.stop)
    assert report["totals"] == {
        "USD": {
            "succeeded": 2,
            "declined": 1,
            "refunded": 1,
            "chargedCents": 1300,
            "refundedCents": 300,
            "netCents": 1000,
        }
    }
    assert [p["id"] for p in report["payments"] if p["status"] == "succeeded" and not p["refunded"]] == [
        kept.id
    ]


async def test_ledger_file_survives_a_restart(tmp_path: Path) -> None:
    journal = tmp_path / "ledger.jsonl"
    box = await asyncio.to_thread(Sandbox(tmp_path, ledger=journal).start)
    paid, declined_key, faulty = key(), key(), key()
    try:
        async with SandboxPaymentProvider(box.url) as p:
            charge = await p.charge(
                idempotency_key=paid, amount_cents=900, currency="USD", payment_token="tok_visa"
            )
            refund = await p.refund(charge_id=charge.id, idempotency_key=f"refund-{paid}")
            with pytest.raises(CardDeclined):
                await p.charge(
                    idempotency_key=declined_key,
                    amount_cents=5,
                    currency="USD",
                    payment_token="tok_chargeDeclined",
                )
            with pytest.raises(ProviderError):
                await p.charge(
                    idempotency_key=faulty, amount_cents=7, currency="USD", payment_token="tok_error"
                )
        async with httpx.AsyncClient(base_url=box.url) as client:
            before = (await client.get("/v1/ledger")).json()
    finally:
        await asyncio.to_thread(box.stop)
    # A crash mid-write leaves a torn last line; the restart must cut it off and carry on.
    with journal.open("ab") as fh:
        fh.write(b'{"kind": "payment", "payme')

    await asyncio.to_thread(box.start)
    try:
        async with httpx.AsyncClient(base_url=box.url) as client:
            assert (await client.get("/v1/ledger")).json() == before
        async with SandboxPaymentProvider(box.url) as p:
            assert (
                await p.charge(
                    idempotency_key=paid, amount_cents=900, currency="USD", payment_token="tok_visa"
                )
                == charge
            )
            assert await p.refund(charge_id=charge.id, idempotency_key=f"refund-{paid}") == refund
            with pytest.raises(IdempotencyMismatch):
                await p.charge(
                    idempotency_key=paid, amount_cents=901, currency="USD", payment_token="tok_visa"
                )
            # The injected 500 was spent before the restart: the retry succeeds.
            retried = await p.charge(
                idempotency_key=faulty, amount_cents=7, currency="USD", payment_token="tok_error"
            )
            assert retried.status == "succeeded"
        async with httpx.AsyncClient(base_url=box.url) as client:
            after = (await client.get("/v1/ledger")).json()
    finally:
        await asyncio.to_thread(box.stop)
    assert after["payments"][: len(before["payments"])] == before["payments"]
    assert [p["idempotencyKey"] for p in after["payments"][len(before["payments"]) :]] == [faulty]


async def test_http_contract_edges(sandbox: Sandbox) -> None:
    body = {"amountCents": 100, "currency": "USD", "paymentToken": "tok_visa"}
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        missing_key = await client.post("/v1/payments", json=body)
        bad_amount = await client.post(
            "/v1/payments", json={**body, "amountCents": 0}, headers={"Idempotency-Key": key()}
        )
        unknown_payment = await client.get("/v1/payments/pay_nope")
        no_route = await client.get("/v2/nothing")
        health = await client.get("/healthz")
    assert (missing_key.status_code, missing_key.json()["error"]["code"]) == (400, "idempotency_key_missing")
    assert (bad_amount.status_code, bad_amount.json()["error"]["code"]) == (400, "invalid_request")
    assert (unknown_payment.status_code, unknown_payment.json()["error"]["code"]) == (404, "resource_missing")
    assert (no_route.status_code, no_route.json()["error"]["code"]) == (404, "resource_missing")
    assert health.status_code == 200
