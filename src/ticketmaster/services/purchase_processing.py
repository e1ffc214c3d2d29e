"""The purchase processor: claims PENDING purchases, charges once per purchase, confirms
the seats or compensates.

Per purchase (all steps are safe to repeat after a crash, by this or another worker):
0. past the payment deadline nothing new is charged: a purchase whose charging never began
   fails hold_expired without a provider call; otherwise the provider abandons the payment
   (cancels it, or says it moved money: refunded), and it fails hold_expired once the
   outcome is known — a payment still processing is asked again later;
1. charge with the purchase's idempotency key (same key and same provider payment on every
   retry: one charge, I3), having noted first that charging began;
2. on a definite decline: FAILED card_declined, hold back to ACTIVE until its expiry; on a
   payment the provider left in a status we never ask for, cancelled by the adapter:
   FAILED payment_cancelled, hold back to ACTIVE likewise;
3. on unknown outcome (timeout / provider error / "processing"): retry later with backoff
   under the same key until the provider gives a definite answer — never give up on an
   unknown outcome, since the card may have been charged;
4. on success: booking rows under the unique (event, seat) constraint + purchase
   SUCCEEDED in one transaction, then Redis flips exactly these seats to SOLD;
   if the constraint refuses (a seat is already sold), the charge is refunded and the
   purchase FAILED seat_conflict — counted on ticketmaster_double_sale_prevented_total;
   if the definite success only arrives after the payment deadline (the seats were
   released), the charge is refunded and the purchase FAILED hold_expired.

A gauge job publishes how many purchases are PENDING and how long the oldest has been
(``ticketmaster_purchases_pending_oldest_seconds``: alert when it passes the payment window).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypedDict

from ticketmaster.domain.errors import Unavailable
from ticketmaster.domain.holds import HoldStatus
from ticketmaster.domain.ids import new_id
from ticketmaster.domain.payments import (
    CardDeclined,
    Charge,
    PaymentCancelled,
    PaymentError,
    PaymentRecord,
)
from ticketmaster.domain.purchases import (
    FailureReason,
    PaymentWindowClosed,
    Purchase,
    PurchaseStatus,
    SeatConflict,
    retry_delay,
)
from ticketmaster.observability import (
    DOUBLE_SALE_PREVENTED,
    PAYMENT_LATENCY,
    PURCHASE_OUTCOMES,
    PURCHASE_RESOLUTION,
    PURCHASES_PENDING,
    PURCHASES_PENDING_OLDEST,
    REFUNDS,
)
from ticketmaster.services.ports import PaymentProvider, PurchaseWork, SaleGate

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
# How long a settled purchase keeps trying to make Redis follow (seats SOLD, or released):
# longer than a Redis Cluster failover (node timeout, then the election), so the map shows
# the outcome as soon as the promoted replica answers; the reconciler is the backstop beyond.
SELL_PATIENCE_S = 30.0
_GateStep = Callable[[str, str, str, tuple[str, ...]], Awaitable[object]]
PENDING_GAUGE_SECONDS = 5.0


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


@dataclass
class PurchaseProcessor:
    repo: PurchaseWork
    gate: SaleGate
    provider: PaymentProvider
    provider_name: str = "sandbox"
    concurrency: int = 32
    lease_seconds: float = 30.0
    # host:pid:unique - an operator (or a test) can tell which process holds a lease.
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{new_id('wrk')}")
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _running: set[asyncio.Task[None]] = field(default_factory=set)

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and process purchases until ``stop`` is set (wakes on NOTIFY, polls too)."""
        listener = await self.repo.listen_for_new(self._wake.set)
        try:
            while not stop.is_set():
                free = self.concurrency - len(self._running)
                claimed = await self._claim(free) if free > 0 else []
                for purchase in claimed:
                    task = asyncio.create_task(self.process(purchase))
                    self._running.add(task)
                    task.add_done_callback(self._running.discard)
                if claimed and len(claimed) == free:
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
        finally:
            for task in list(self._running):
                task.cancel()
            await asyncio.gather(*self._running, return_exceptions=True)
            if listener is not None:
                await listener.close()

    async def _claim(self, limit: int) -> list[Purchase]:
        try:
            return await self.repo.claim(self.worker_id, limit, self.lease_seconds)
        except Exception:
            log.exception("claiming purchases failed; will retry")
            await asyncio.sleep(POLL_SECONDS)
            return []

    async def process(self, purchase: Purchase) -> None:
        heartbeat = asyncio.create_task(self._keep_lease(purchase.id))
        try:
            await self._process(purchase)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The lease lapses and the purchase is retried (here or elsewhere): all steps repeat safely.
            log.exception("purchase %s: processing failed; it will be retried", purchase.id)
        finally:
            heartbeat.cancel()

    async def _keep_lease(self, purchase_id: str) -> None:
        """Renew the lease while a slow payment is in flight, so nobody takes over a live worker."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            with contextlib.suppress(Exception):
                if not await self.repo.extend_lease(purchase_id, self.worker_id, self.lease_seconds):
                    return

    async def watch_pending(self, stop: asyncio.Event, every: float = PENDING_GAUGE_SECONDS) -> None:
        """Publish the PENDING purchases' count and oldest age until ``stop`` (alerting input)."""
        while not stop.is_set():
            try:
                count, oldest = await self.repo.pending_summary()
            except Exception:
                log.warning("could not count pending purchases; retrying", exc_info=True)
            else:
                PURCHASES_PENDING.set(count)
                PURCHASES_PENDING_OLDEST.set(oldest)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    def _payment(self, p: Purchase) -> _PaymentCall:
        return {
            "idempotency_key": p.charge_key,
            "amount_cents": p.amount_cents,
            "currency": p.currency,
            "payment_token": p.payment_token,
            "metadata": {"purchaseId": p.id, "holdId": p.hold_id, "eventId": p.event_id},
            "record": self.repo.payment_record(p),
        }

    async def _process(self, p: Purchase) -> None:
        if p.payment_deadline is not None and datetime.now(UTC) >= p.payment_deadline:
            await self._abandon(p)
            return
        if not p.charge_started:
            await self.repo.mark_charge_started(p.id)
        started = time.perf_counter()
        try:
            charge = await self.provider.charge(**self._payment(p))
        except CardDeclined as exc:
            PAYMENT_LATENCY.observe(time.perf_counter() - started)
            await self.repo.record_payment(p, self.provider_name, "DECLINED", exc.charge_id)
            await self._fail(p, FailureReason.CARD_DECLINED)
            return
        except PaymentCancelled as exc:
            PAYMENT_LATENCY.observe(time.perf_counter() - started)
            log.warning("purchase %s: payment %s was %s; cancelled it", p.id, exc.charge_id, exc.status)
            await self.repo.record_payment(p, self.provider_name, "VOIDED", exc.charge_id)
            await self._fail(p, FailureReason.PAYMENT_CANCELLED)
            return
        except PaymentError as exc:
            PAYMENT_LATENCY.observe(time.perf_counter() - started)
            if exc.retryable:
                await self._retry(p, exc.code)
                return
            # A definite refusal (invalid token, key misuse): no money moved.
            await self.repo.record_payment(p, self.provider_name, "ERROR", None)
            await self._fail(p, FailureReason.PAYMENT_ERROR)
            return
        PAYMENT_LATENCY.observe(time.perf_counter() - started)
        if charge.status != "succeeded":
            await self._retry(p, charge.status)  # not final yet: ask again under the same key
            return
        await self.repo.record_payment(p, self.provider_name, "SUCCEEDED", charge.id)
        try:
            booking = await self.repo.confirm(p, self.worker_id, new_id("bkg"))
        except SeatConflict:
            DOUBLE_SALE_PREVENTED.inc()
            log.error("purchase %s: seats already sold; refunding charge %s", p.id, charge.id)
            await self._refund(p, charge.id)
            await self._fail(p, FailureReason.SEAT_CONFLICT)
            return
        except Unavailable:
            # The commit's outcome is unknown (the connection died under it): if it did
            # happen, the seats must still be marked SOLD, since no one will claim a
            # SUCCEEDED purchase again.
            if await self._confirmed_after_all(p):
                PURCHASE_OUTCOMES.labels("succeeded").inc()
                self._observe_resolution(p)
                await self._sell(p)
                return
            raise
        except PaymentWindowClosed:
            log.warning("purchase %s: paid after its payment deadline; refunding charge %s", p.id, charge.id)
            await self._refund(p, charge.id)
            await self._fail(p, FailureReason.HOLD_EXPIRED)
            return
        if booking is None:
            return  # another worker took over and finished; our charge call was the same charge
        PURCHASE_OUTCOMES.labels("succeeded").inc()
        self._observe_resolution(p)
        await self._sell(p)

    async def _abandon(self, p: Purchase) -> None:
        """Past the payment deadline: charge nothing new; void or refund what was started."""
        charge: Charge | None = None
        if p.charge_started or p.provider_payment_id is not None:
            try:
                charge = await self.provider.abandon(**self._payment(p))
            except PaymentError as exc:
                if exc.retryable:
                    await self._retry(p, exc.code)
                    return
                # A definite refusal: no money moved.
            if charge is not None and charge.status != "succeeded":
                await self._retry(p, charge.status)  # money in flight: learn how it ends first
                return
            if charge is None:
                await self.repo.record_payment(p, self.provider_name, "VOIDED", p.provider_payment_id)
        if charge is not None:
            log.warning(
                "purchase %s: charged, but its payment deadline passed; refunding %s", p.id, charge.id
            )
            await self.repo.record_payment(p, self.provider_name, "SUCCEEDED", charge.id)
            await self._refund(p, charge.id)
        await self._fail(p, FailureReason.HOLD_EXPIRED)

    async def _confirmed_after_all(self, p: Purchase) -> bool:
        """Whether the purchase ended SUCCEEDED, asking until PostgreSQL answers (bounded)."""
        for attempt in range(60):
            try:
                current = await self.repo.get(p.id)
            except Unavailable:
                await asyncio.sleep(min(0.1 * 2**attempt, 1.0))
                continue
            return current is not None and current.status is PurchaseStatus.SUCCEEDED
        return False

    async def _sell(self, p: Purchase) -> None:
        """Flip the seats to SOLD in Redis (PostgreSQL already holds the truth)."""
        await self._in_redis(p, self.gate.sell, p.event_id, p.hold_id, p.user_id, p.seat_ids)

    async def _in_redis(
        self, p: Purchase, step: _GateStep, event_id: str, hold_id: str, user_id: str, seats: tuple[str, ...]
    ) -> None:
        """Make Redis follow what PostgreSQL has just recorded for ``p``: no one claims a
        settled purchase again, so retry for SELL_PATIENCE_S (longer than a failover), and
        leave the rest to the loader/reconciler if Redis stays away."""
        deadline = time.monotonic() + SELL_PATIENCE_S
        attempt = 0
        while True:
            attempt += 1
            try:
                await step(event_id, hold_id, user_id, seats)
                return
            except Exception:
                log.warning("purchase %s: %s in Redis failed (attempt %d)", p.id, step.__name__, attempt)
                if time.monotonic() >= deadline:
                    return
                await asyncio.sleep(min(0.2 * 2 ** (attempt - 1), 1.0))

    async def _retry(self, p: Purchase, why: str) -> None:
        delay = retry_delay(p.attempts)
        log.info("purchase %s: %s (attempt %d); retrying in %.2fs", p.id, why, p.attempts, delay)
        await self.repo.retry_later(p.id, self.worker_id, delay)

    async def _refund(self, p: Purchase, charge_id: str) -> None:
        await self.provider.refund(charge_id=charge_id, idempotency_key=p.refund_key)
        REFUNDS.inc()
        await self.repo.record_payment(p, self.provider_name, "REFUNDED", charge_id)

    async def _fail(self, p: Purchase, reason: FailureReason) -> None:
        """Mark the purchase FAILED and settle its hold's seats.

        When the hold goes back to the buyer (declined / refused / cancelled payment), Redis is reset
        to ACTIVE with the hold's own expiry BEFORE PostgreSQL says ACTIVE: the buyer can
        only start a new purchase once PostgreSQL does, so that new purchase's PURCHASING
        state can never be overwritten by this late reset.
        """
        if reason in (
            FailureReason.CARD_DECLINED,
            FailureReason.PAYMENT_ERROR,
            FailureReason.PAYMENT_CANCELLED,
        ):
            expires_at = await self.repo.hold_expires_at(p.hold_id)
            back = _ms(expires_at) if expires_at is not None and expires_at > datetime.now(UTC) else 0
            await self.gate.retime(
                p.event_id,
                p.hold_id,
                p.user_id,
                p.seat_ids,
                status=HoldStatus.ACTIVE,
                expires_at_ms=back,
                require_live=False,
            )
        hold = await self.repo.fail(p, self.worker_id, reason.value)
        PURCHASE_OUTCOMES.labels(reason.value).inc()
        self._observe_resolution(p)
        if hold is None or hold.status not in (HoldStatus.CANCELLED, HoldStatus.EXPIRED):
            return
        if reason is FailureReason.SEAT_CONFLICT:
            # Redis did not know these seats were sold (that is how the constraint got to
            # speak): mark the sold ones SOLD before freeing the rest.
            sold = await self.repo.sold_seats(hold.event_id, hold.seat_ids)
            if sold:
                await self._in_redis(p, self.gate.sell, hold.event_id, hold.id, hold.user_id, sold)
        await self._in_redis(p, self.gate.release, hold.event_id, hold.id, hold.user_id, hold.seat_ids)

    @staticmethod
    def _observe_resolution(p: Purchase) -> None:
        if p.created_at is not None:
            PURCHASE_RESOLUTION.observe((datetime.now(UTC) - p.created_at).total_seconds())


class _PaymentCall(TypedDict):
    """What the provider is told about a purchase's payment, on every call."""

    idempotency_key: str
    amount_cents: int
    currency: str
    payment_token: str
    metadata: Mapping[str, str] | None
    record: PaymentRecord | None
