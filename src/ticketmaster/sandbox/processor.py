"""Charging and refunding with Stripe's idempotency semantics, plus the test tokens' faults.

Contract, per charge idempotency key:

- The first request that *begins executing* binds the key to its parameters and its
  outcome (succeeded or declined). Every later request with the same key and the same
  parameters gets that very payment back — same id, same status — and never a second
  charge; the same key with other parameters raises ``idempotency_key_reused``.
- Concurrent duplicates share one execution: they wait for it and get its outcome.
- Requests refused before executing (unknown token) and the injected faults below bind
  nothing, so retrying them is safe — as Stripe documents for requests that never began
  executing.

Test tokens (the contract of API.md):

- ``tok_visa`` succeeds; ``tok_chargeDeclined`` is declined (``card_declined``), and the
  decline is recorded and replayed for its key like any outcome.
- ``tok_timeout``: the first request for a key hangs ``hang_seconds`` (meant to outlast
  the client's timeout), then answers 504 *without charging*. It never occupies the key,
  so a retry — even one sent while the first still hangs — executes normally and charges
  once. This models a request lost before the provider processed it. A real timeout is
  ambiguous (Stripe may or may not have charged); callers must treat it as unknown and
  retry with the same key, which is safe in both cases.
- ``tok_error``: the first request for a key answers 500 without charging; a retry with
  the same key succeeds.

Refunds are full refunds, one per payment: refunding a refunded payment returns the
existing refund, whatever the key; only a succeeded payment can be refunded.
"""

from __future__ import annotations

import asyncio
import random
from typing import Literal, NoReturn

from ticketmaster.sandbox.ledger import ChargeRequest, Ledger, Payment, PaymentStatus, Refund, new_id, utc_now

Fault = Literal["timeout", "error"]
_TOKENS: dict[str, PaymentStatus | Fault] = {
    "tok_visa": "succeeded",
    "tok_chargeDeclined": "declined",
    "tok_timeout": "timeout",
    "tok_error": "error",
}


class SandboxError(Exception):
    """A refusal, rendered Stripe-style as ``{"error": {"type", "code", "message"}}``."""

    def __init__(self, status: int, type_: str, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.type = type_
        self.code = code
        self.message = message


def _key_reused(key: str) -> SandboxError:
    return SandboxError(
        400,
        "idempotency_error",
        "idempotency_key_reused",
        f"Keys for idempotent requests can only be used with the same parameters they were "
        f"first used with; {key!r} was used with different ones.",
    )


class PaymentProcessor:
    """Executes charges and refunds against a :class:`Ledger` (see the module contract)."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        latency_ms: tuple[int, int] = (100, 1000),
        hang_seconds: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        low, high = latency_ms
        if not 0 <= low <= high:
            raise ValueError(f"latency range must satisfy 0 <= min <= max, got {low}:{high}")
        if hang_seconds < 0:
            raise ValueError("hang_seconds must be >= 0")
        self.ledger = ledger
        self._latency_ms = (low, high)
        self._hang_seconds = hang_seconds
        self._rng = rng or random.Random()
        self._charging: dict[str, tuple[ChargeRequest, asyncio.Task[Payment]]] = {}
        self._refunding: dict[str, asyncio.Task[Refund]] = {}

    async def charge(self, idempotency_key: str, request: ChargeRequest) -> Payment:
        """Create and confirm a payment once per key; see the module contract.

        Returns the payment, whose status is ``succeeded`` or ``declined``; raises
        :class:`SandboxError` for a reused key, an unknown token or an injected fault.
        """
        # No await before the task is registered: check-then-claim is atomic in the loop.
        saved = self.ledger.payment_for_key(idempotency_key)
        if saved is not None:
            if saved.request != request:
                raise _key_reused(idempotency_key)
            return saved
        running = self._charging.get(idempotency_key)
        if running is not None:
            if running[0] != request:
                raise _key_reused(idempotency_key)
            return await asyncio.shield(running[1])
        behaviour = _TOKENS.get(request.payment_token)
        if behaviour is None:
            raise SandboxError(
                400,
                "invalid_request_error",
                "invalid_token",
                f"No such payment token: {request.payment_token!r}; the sandbox knows "
                + ", ".join(sorted(_TOKENS)),
            )
        status: PaymentStatus
        if behaviour == "timeout" or behaviour == "error":
            if not self.ledger.fault_spent(idempotency_key):
                self.ledger.spend_fault(idempotency_key)
                await self._fail(behaviour)
            status = "succeeded"
        else:
            status = behaviour
        # Executed in its own task so a client that gives up cannot abort a started charge.
        task = asyncio.create_task(self._execute(idempotency_key, request, status))
        self._charging[idempotency_key] = (request, task)
        # While this entry exists every duplicate joins the task, so the entry popped is its own.
        task.add_done_callback(lambda _: self._charging.pop(idempotency_key, None))
        return await asyncio.shield(task)

    async def refund(self, payment_id: str, idempotency_key: str | None = None) -> Refund:
        """Fully refund a succeeded payment, at most once; see the module contract."""
        payment = self.ledger.payment(payment_id)
        if payment is None:
            raise SandboxError(
                404, "invalid_request_error", "resource_missing", f"No such payment: {payment_id!r}"
            )
        if idempotency_key is not None:
            owner = self.ledger.refunded_payment_for_key(idempotency_key)
            if owner is not None and owner != payment_id:
                raise _key_reused(idempotency_key)
        if payment.refund is not None:
            return payment.refund
        if payment.status != "succeeded":
            raise SandboxError(
                400,
                "invalid_request_error",
                "payment_not_refundable",
                f"Payment {payment_id} is {payment.status}; only a succeeded payment can be refunded.",
            )
        task = self._refunding.get(payment_id)
        if task is None:
            task = asyncio.create_task(self._execute_refund(payment, idempotency_key))
            self._refunding[payment_id] = task
            task.add_done_callback(lambda _: self._refunding.pop(payment_id, None))
        return await asyncio.shield(task)

    async def _execute(self, key: str, request: ChargeRequest, status: PaymentStatus) -> Payment:
        await self.latency()
        payment = Payment(
            id=new_id("pay"),
            idempotency_key=key,
            request=request,
            status=status,
            decline_code="generic_decline" if status == "declined" else None,
            created_at=utc_now(),
        )
        self.ledger.record_payment(payment)
        return payment

    async def _execute_refund(self, payment: Payment, key: str | None) -> Refund:
        await self.latency()
        refund = Refund(
            id=new_id("re"),
            payment_id=payment.id,
            amount_cents=payment.request.amount_cents,
            currency=payment.request.currency,
            idempotency_key=key,
            created_at=utc_now(),
        )
        self.ledger.record_refund(refund)
        return refund

    async def _fail(self, fault: Fault) -> NoReturn:
        if fault == "timeout":
            await asyncio.sleep(self._hang_seconds)
            raise SandboxError(
                504, "api_error", "timeout", "The sandbox held this request on purpose; nothing was charged."
            )
        await self.latency()
        raise SandboxError(
            500, "api_error", "internal_error", "Injected provider error; nothing was charged. Retry."
        )

    async def latency(self) -> None:
        """Wait one request's processing time, drawn from the configured range."""
        low, high = self._latency_ms
        if high > 0:
            await asyncio.sleep(self._rng.uniform(low, high) / 1000)
