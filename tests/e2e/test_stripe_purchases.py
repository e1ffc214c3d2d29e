"""Purchases through the Stripe adapter end to end: the API server, worker processes paying
with the official SDK, and the sandbox speaking Stripe's API with Stripe's own behaviours —
a stored 500 replayed for its key, a payment processing before it settles, statuses we never
ask for, a payment deadline passing (I3, I4).

Each test has a sandbox of its own (a fresh account), so ``ticketmaster audit`` — which
checks the sandbox ledger against PostgreSQL — ends every test, beside the per-purchase
audit of tests/e2e/purchase_helpers.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ServerProcess, free_port
from tests.e2e.buyers import Buyer, seat_statuses
from tests.e2e.purchase_helpers import (
    LEASE,
    PAYMENT_TIMEOUT,
    STRIPE,
    PurchaseStack,
    SandboxSpec,
    Shop,
    StackConfig,
    eventually,
)
from tests.fleet import cli
from ticketmaster.processes import end_process

UNLIMITED = {"TICKETMASTER_RATE_LIMIT_PER_SECOND": "100000", "TICKETMASTER_RATE_LIMIT_BURST": "100000"}
# Client timeout 1 s < tok_timeout's 3 s hang; a 2 s lease lapses fast.
STRIPE_FAST = StackConfig(
    SandboxSpec(latency="10:30", hang_seconds=3, settle_seconds=1),
    workers=1,
    settings=(*STRIPE, (LEASE, "2"), (PAYMENT_TIMEOUT, "1")),
)
SANDBOX_FAST = replace(STRIPE_FAST, settings=((LEASE, "2"), (PAYMENT_TIMEOUT, "1")))


@pytest.fixture(scope="module")
def api(server_env: dict[str, str]) -> Iterator[ServerProcess]:
    """The API server of this module (it never talks to the provider: workers do)."""
    proc = ServerProcess({**server_env, **UNLIMITED})
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


@contextlib.asynccontextmanager
async def opened(
    config: StackConfig, api: ServerProcess, pool: asyncpg.Pool, server_env: dict[str, str], tmp_path: Path
) -> AsyncIterator[Shop]:
    """A fresh sandbox and ``config``'s workers; on the way out, ``ticketmaster audit`` must pass."""
    stack = PurchaseStack(server_env, tmp_path)
    try:
        await asyncio.to_thread(stack.configure, config)
        async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
            yield Shop(http, pool, stack)
        audit = await cli(stack.worker_env(), "audit")
        assert audit.returncode == 0, audit.stdout + audit.stderr
    finally:
        await asyncio.to_thread(stack.close)


@pytest.fixture
async def shop(
    api: ServerProcess, pool: asyncpg.Pool, server_env: dict[str, str], tmp_path: Path
) -> AsyncIterator[Shop]:
    async with opened(STRIPE_FAST, api, pool, server_env, tmp_path) as s:
        yield s


async def _intents(shop: Shop, purchase_id: str) -> list[dict[str, Any]]:
    return [p for p in await shop.ledger() if p["metadata"].get("purchaseId") == purchase_id]


async def _seats_show(shop: Shop, event_id: str, seats: list[str], status: str) -> None:
    async def probe() -> bool | None:
        shown = await seat_statuses(shop.http, event_id)
        return True if all(shown[s] == status for s in seats) else None

    await eventually(probe, within=10, what=f"{seats} to show {status}")


@dataclass(frozen=True, slots=True)
class Bought:
    event_id: str
    seats: list[str]
    buyer: Buyer
    hold: dict[str, Any]
    purchase_id: str


async def _buy(shop: Shop, token: str, seats: int = 2) -> Bought:
    """A buyer holds ``seats`` seats of a fresh event and starts paying with ``token``."""
    event_id, seat_ids = await shop.event()
    buyer = await shop.buyer()
    held = await shop.hold(buyer, event_id, seat_ids[:seats])
    purchase_id = await shop.purchase(buyer, held["holdId"], token)
    return Bought(event_id, seat_ids[:seats], buyer, held, purchase_id)


@pytest.mark.parametrize("token", ["tok_error", "tok_errorAfterCharge", "tok_createError", "tok_timeout"])
async def test_an_unknown_outcome_is_resolved_by_retrieving_the_intent(shop: Shop, token: str) -> None:
    b = await _buy(shop, token)
    done = await shop.settle(b.buyer, b.purchase_id)

    assert done["status"] == "SUCCEEDED", done
    [intent] = await _intents(shop, b.purchase_id)
    assert (intent["status"], intent["refunded"]) == ("succeeded", False)
    assert intent["statusHistory"] == ["requires_confirmation", "succeeded"]
    row = await shop.purchase_row(b.purchase_id)
    assert row["provider_payment_id"] == intent["id"], "the intent id is stored on the purchase"
    result = await shop.audit()
    assert set(result.bookings) == {b.purchase_id}
    assert result.charges[b.purchase_id]["id"] == intent["id"]
    await _seats_show(shop, b.event_id, b.seats, "SOLD")


async def test_a_processing_payment_settles_and_books(shop: Shop) -> None:
    b = await _buy(shop, "tok_processing")
    done = await shop.settle(b.buyer, b.purchase_id)

    assert done["status"] == "SUCCEEDED", done
    [intent] = await _intents(shop, b.purchase_id)
    assert intent["statusHistory"] == ["requires_confirmation", "processing", "succeeded"]
    assert (await shop.purchase_row(b.purchase_id))["attempts"] >= 2, (
        "it came back for the processing payment"
    )
    result = await shop.audit()
    assert set(result.bookings) == {b.purchase_id}
    await _seats_show(shop, b.event_id, b.seats, "SOLD")


@pytest.mark.parametrize(
    ("token", "status"),
    [("tok_requiresCapture", "requires_capture"), ("tok_requiresAction", "requires_action")],
)
async def test_a_status_we_never_ask_for_is_cancelled_and_the_buyer_may_retry(
    shop: Shop, token: str, status: str
) -> None:
    b = await _buy(shop, token)
    done = await shop.settle(b.buyer, b.purchase_id)

    assert (done["status"], done["failureReason"], done["bookingId"]) == ("FAILED", "payment_cancelled", None)
    [intent] = await _intents(shop, b.purchase_id)
    assert intent["statusHistory"] == ["requires_confirmation", status, "canceled"]
    assert intent["status"] == "canceled", "no authorisation may stay on the card"
    payment = await shop.pool.fetchrow(
        "SELECT status, provider_payment_id FROM payments WHERE purchase_id = $1", b.purchase_id
    )
    assert payment is not None
    assert (payment["status"], payment["provider_payment_id"]) == ("VOIDED", intent["id"])
    hold_now = await shop.get(b.buyer, f"/holds/{b.hold['holdId']}")
    assert (hold_now["status"], hold_now["expiresAt"]) == ("ACTIVE", b.hold["expiresAt"])
    await _seats_show(shop, b.event_id, b.seats, "HELD")

    retried = await shop.post_purchase(b.buyer, b.hold["holdId"], "tok_visa", key=None)
    assert retried.status_code == 202, retried.text
    paid = await shop.settle(b.buyer, retried.json()["purchaseId"])
    assert paid["status"] == "SUCCEEDED", paid
    result = await shop.audit()
    assert set(result.bookings) == {paid["purchaseId"]}


@pytest.mark.parametrize("config", [STRIPE_FAST, SANDBOX_FAST], ids=["stripe", "sandbox"])
async def test_past_the_deadline_nothing_is_charged(
    config: StackConfig, api: ServerProcess, pool: asyncpg.Pool, server_env: dict[str, str], tmp_path: Path
) -> None:
    async with opened(replace(config, workers=0), api, pool, server_env, tmp_path) as shop:
        b = await _buy(shop, "tok_visa")
        # No worker has seen it yet; its payment window closes (as if every worker had been down).
        await pool.execute(
            "UPDATE holds SET payment_deadline = now() - interval '1 second' WHERE id = $1", b.hold["holdId"]
        )
        shop.stack.start_worker()
        done = await shop.settle(b.buyer, b.purchase_id)

        assert (done["status"], done["failureReason"]) == ("FAILED", "hold_expired"), done
        assert await _intents(shop, b.purchase_id) == [], "no charge attempt after the deadline"
        assert (await shop.purchase_row(b.purchase_id))["charge_started_at"] is None
        assert (await shop.get(b.buyer, f"/holds/{b.hold['holdId']}"))["status"] == "EXPIRED"
        await _seats_show(shop, b.event_id, b.seats, "AVAILABLE")
        assert (await shop.audit()).charges == {}


async def test_a_payment_still_processing_at_the_deadline_is_refunded_once_it_settles(
    api: ServerProcess, pool: asyncpg.Pool, server_env: dict[str, str], tmp_path: Path
) -> None:
    config = replace(STRIPE_FAST, sandbox=replace(STRIPE_FAST.sandbox, settle_seconds=4), workers=1)
    async with opened(config, api, pool, server_env, tmp_path) as shop:
        b = await _buy(shop, "tok_processing")

        async def processing() -> bool | None:
            intents = await _intents(shop, b.purchase_id)
            return True if intents and intents[0]["intentStatus"] == "processing" else None

        await eventually(processing, within=15, what="the payment to be processing")
        await pool.execute(
            "UPDATE holds SET payment_deadline = now() - interval '1 second' WHERE id = $1", b.hold["holdId"]
        )
        done = await shop.settle(b.buyer, b.purchase_id, within=30)

        assert (done["status"], done["failureReason"]) == ("FAILED", "hold_expired"), done
        [intent] = await _intents(shop, b.purchase_id)
        assert intent["statusHistory"] == ["requires_confirmation", "processing", "succeeded"]
        assert intent["refunded"] is True, "money that moved after the deadline goes back"
        payment = await pool.fetchrow("SELECT status FROM payments WHERE purchase_id = $1", b.purchase_id)
        assert payment is not None
        assert payment["status"] == "REFUNDED"
        assert (await shop.get(b.buyer, f"/holds/{b.hold['holdId']}"))["status"] == "EXPIRED"
        await _seats_show(shop, b.event_id, b.seats, "AVAILABLE")
        assert (await shop.audit()).charges == {}


class _MetricsWorker:
    """``ticketmaster worker --metrics-port``: a full worker whose /metrics the test reads."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        args = [
            sys.executable,
            "-m",
            "ticketmaster.entrypoints.cli.main",
            "worker",
            "--metrics-port",
            str(self.port),
        ]
        self.process = subprocess.Popen(args, env={**os.environ, **env})

    async def gauges(self) -> dict[str, float] | None:
        assert self.process.poll() is None, f"the worker exited with {self.process.returncode}"
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                text = (await client.get(f"http://127.0.0.1:{self.port}/metrics")).text
        except httpx.HTTPError:
            return None
        return {
            s.name: s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name.startswith("ticketmaster_purchases_pending")
        }

    def stop(self) -> None:
        end_process(self.process)


async def test_a_purchase_pending_too_long_shows_on_the_metrics(
    api: ServerProcess, pool: asyncpg.Pool, server_env: dict[str, str], tmp_path: Path
) -> None:
    # The payment stays processing far longer than the test: its purchase stays PENDING.
    config = replace(STRIPE_FAST, sandbox=replace(STRIPE_FAST.sandbox, settle_seconds=600), workers=0)
    async with opened(config, api, pool, server_env, tmp_path) as shop:
        worker = _MetricsWorker(shop.stack.worker_env())
        try:
            b = await _buy(shop, "tok_processing")

            async def reported() -> dict[str, float] | None:
                gauges = await worker.gauges()
                pending = gauges and gauges.get("ticketmaster_purchases_pending") == 1
                return (
                    gauges
                    if pending and gauges["ticketmaster_purchases_pending_oldest_seconds"] > 0
                    else None
                )

            gauges = await eventually(reported, within=30, what="the worker to report the pending purchase")
            age = await pool.fetchval(
                "SELECT extract(epoch FROM now() - created_at) FROM purchases WHERE id = $1", b.purchase_id
            )
            assert 0 < gauges["ticketmaster_purchases_pending_oldest_seconds"] <= float(age)
            assert (await shop.purchase_row(b.purchase_id))["status"] == "PENDING"
        finally:
            worker.stop()
