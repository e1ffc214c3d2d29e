"""The sandbox's Stripe-style PaymentIntents: the behaviours a Stripe client must survive.

State machine (Stripe's, the part a server-side card integration meets):

    create ------------------------------> requires_confirmation  (confirm=true: confirm at once)
    requires_confirmation | requires_payment_method --confirm--> succeeded
        | requires_payment_method + last_payment_error (declined: 402 card_error)
        | processing | requires_action | requires_capture
    processing --settle_seconds later--> succeeded
    requires_* --cancel--> canceled  (an authorisation on the card is released)
    succeeded --refund--> succeeded, refunded (one full refund)

Any other move is refused with 400 ``payment_intent_unexpected_state``, carrying the intent.
Every transition happens with no await between its check and its write, so within the
event loop each is atomic: one intent succeeds at most once, however many confirms race.

Idempotency (Stripe API v1): the first POST under an ``Idempotency-Key`` that begins
executing has its status, body and headers stored — 4xx and 5xx included — and every later
request with that key and the same parameters gets that very answer back, marked
``Idempotent-Replayed: true``; other parameters get 400 ``idempotency_error``; a request
while the first is still executing gets 409 (``Stripe-Should-Retry: true``, nothing stored).
Requests refused before executing (bad parameters, unknown payment method) store nothing.

Test payment methods (``payment_method``; ``pm_card_visa`` and ``pm_card_chargeDeclined``
are accepted too):

- ``tok_visa`` succeeds; ``tok_chargeDeclined`` is declined;
- ``tok_processing`` is ``processing`` until ``settle_seconds`` after its confirmation, then
  ``succeeded`` (a retrieve in between answers processing);
- ``tok_requiresAction`` → ``requires_action`` (with ``error_on_requires_action``: declined,
  ``authentication_required``); ``tok_requiresCapture`` → ``requires_capture``: the amount
  is authorised on the card, not captured, until the intent is cancelled;
- ``tok_error``: the intent's first confirm answers 500 without charging — that answer is
  stored for its key and replayed, with ``Stripe-Should-Retry: false``; a confirm under
  another key succeeds;
- ``tok_errorAfterCharge``: the first confirm charges, then answers a stored, replayed 500;
- ``tok_timeout``: the first confirm charges, then hangs ``hang_seconds`` before answering;
- ``tok_createError``: the first create with given parameters answers a 500 that is stored
  for its key and replayed; it creates nothing, and a create under another key succeeds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ticketmaster.sandbox.ledger import ChargeRequest, Intent, Ledger, Refund, StoredAnswer, new_id, utc_now
from ticketmaster.sandbox.processor import SandboxError

Behaviour = Literal[
    "succeed",
    "decline",
    "processing",
    "requires_action",
    "requires_capture",
    "error",
    "error_after_charge",
    "timeout",
    "create_error",
]
METHODS: dict[str, Behaviour] = {
    "tok_visa": "succeed",
    "pm_card_visa": "succeed",
    "tok_chargeDeclined": "decline",
    "pm_card_chargeDeclined": "decline",
    "tok_processing": "processing",
    "tok_requiresAction": "requires_action",
    "tok_requiresCapture": "requires_capture",
    "tok_error": "error",
    "tok_errorAfterCharge": "error_after_charge",
    "tok_timeout": "timeout",
    "tok_createError": "create_error",
}
_CONFIRMABLE = frozenset({"requires_confirmation", "requires_payment_method"})
_CANCELABLE = frozenset({*_CONFIRMABLE, "requires_action", "requires_capture"})


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer of the Stripe-style API; ``hang`` seconds pass between storing and sending it."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0


def intent_object(intent: Intent) -> dict[str, Any]:
    """The intent as Stripe's API shows it."""
    amount = intent.request.amount_cents
    return {
        "id": intent.id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": amount if intent.status == "requires_capture" else 0,
        "amount_received": amount if intent.status == "succeeded" else 0,
        "currency": intent.request.currency.lower(),
        "status": intent.status,
        "metadata": intent.request.metadata,
        "payment_method": intent.request.payment_token,
        "capture_method": "automatic",
        "confirmation_method": "automatic",
        "created": int(datetime.fromisoformat(intent.created_at.replace("Z", "+00:00")).timestamp()),
        "livemode": False,
        "last_payment_error": intent.last_error,
        "next_action": {"type": "use_stripe_sdk"} if intent.status == "requires_action" else None,
    }


def _error(
    status: int, type_: str, code: str, message: str, *, intent: Intent | None = None, **extra: Any
) -> Answer:
    error: dict[str, Any] = {"type": type_, "code": code, "message": message, **extra}
    if intent is not None:
        error["payment_intent"] = intent_object(intent)
    # A stored 500 is replayed to every retry of its key: repeating the request is pointless.
    headers = {"Stripe-Should-Retry": "false"} if status >= 500 else {}
    return Answer(status, {"error": error}, headers)


def _server_error() -> Answer:
    return _error(
        500, "api_error", "internal_error", "Injected sandbox error; the answer is stored for this key."
    )


def _unexpected(intent: Intent, action: str) -> Answer:
    return _error(
        400,
        "invalid_request_error",
        "payment_intent_unexpected_state",
        f"This PaymentIntent's status is {intent.status}; it cannot be {action}.",
        intent=intent,
    )


def behaviour_of(payment_method: str) -> Behaviour:
    """The test payment method's behaviour; unknown ones are refused before executing."""
    behaviour = METHODS.get(payment_method)
    if behaviour is None:
        raise SandboxError(
            400,
            "invalid_request_error",
            "resource_missing",
            f"No such PaymentMethod: {payment_method!r}; the sandbox knows " + ", ".join(sorted(METHODS)),
        )
    return behaviour


class StripeIntents:
    """PaymentIntents over a :class:`Ledger` (see the module contract)."""

    def __init__(
        self,
        ledger: Ledger,
        latency: Callable[[], Awaitable[None]],
        *,
        hang_seconds: float,
        settle_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ledger = ledger
        self._latency = latency
        self._hang_seconds = hang_seconds
        self._settle_seconds = settle_seconds
        self._clock = clock
        self._executing: set[str] = set()
        self._tasks: set[asyncio.Task[Answer]] = set()

    async def create(
        self, key: str | None, fingerprint: str, request: ChargeRequest, *, confirm: bool, no_action: bool
    ) -> Answer:
        behaviour = behaviour_of(request.payment_token)

        async def execute() -> Answer:
            await self._latency()
            if behaviour == "create_error" and key is not None and self._first(f"create:{fingerprint}"):
                return _server_error()
            intent = Intent(new_id("pi"), key, request, "requires_confirmation", utc_now())
            self.ledger.record_intent(intent)
            return self._confirm(intent, no_action) if confirm else Answer(200, intent_object(intent))

        return await self._idempotent(key, fingerprint, execute)

    async def retrieve(self, intent_id: str) -> Answer:
        await self._latency()
        intent = self._find(intent_id)
        return Answer(200, intent_object(intent))

    async def confirm(self, intent_id: str, key: str | None, fingerprint: str, *, no_action: bool) -> Answer:
        async def execute() -> Answer:
            await self._latency()
            intent = self._find(intent_id)
            if intent.status not in _CONFIRMABLE:
                return _unexpected(intent, "confirmed")
            return self._confirm(intent, no_action)

        return await self._idempotent(key, fingerprint, execute)

    async def cancel(self, intent_id: str, key: str | None, fingerprint: str) -> Answer:
        async def execute() -> Answer:
            await self._latency()
            intent = self._find(intent_id)
            if intent.status not in _CANCELABLE:
                return _unexpected(intent, "canceled")
            self._move(intent, "canceled")
            return Answer(200, intent_object(intent))

        return await self._idempotent(key, fingerprint, execute)

    async def refund(self, intent_id: str, key: str | None, fingerprint: str) -> Answer:
        async def execute() -> Answer:
            await self._latency()
            intent = self._find(intent_id)
            if intent.refund is not None:
                return _error(
                    400,
                    "invalid_request_error",
                    "charge_already_refunded",
                    f"{intent.id} is refunded already.",
                )
            if intent.status != "succeeded":
                return _unexpected(intent, "refunded")
            refund = Refund(
                new_id("re"), intent.id, intent.request.amount_cents, intent.request.currency, key, utc_now()
            )
            self.ledger.record_refund(refund)
            body = {
                "id": refund.id,
                "object": "refund",
                "amount": refund.amount_cents,
                "currency": refund.currency.lower(),
                "payment_intent": intent.id,
                "status": "succeeded",
            }
            return Answer(200, body)

        return await self._idempotent(key, fingerprint, execute)

    def settle_due(self) -> None:
        """Let every processing intent whose time has come succeed (before a ledger report)."""
        for entry in list(self.ledger.entries()):
            if isinstance(entry, Intent):
                self._settle(entry)

    def _confirm(self, intent: Intent, no_action: bool) -> Answer:
        """Confirm a confirmable intent by its payment method's behaviour; no await inside."""
        behaviour = METHODS[intent.request.payment_token]
        if behaviour in ("error", "error_after_charge", "timeout") and self._first(f"confirm:{intent.id}"):
            if behaviour == "error":
                return _server_error()
            self._succeed(intent)
            if behaviour == "error_after_charge":
                return _server_error()
            return Answer(200, intent_object(intent), hang=self._hang_seconds)
        if behaviour == "decline" or (behaviour == "requires_action" and no_action):
            code = "card_declined" if behaviour == "decline" else "authentication_required"
            message = "Your card was declined." if behaviour == "decline" else "Authentication is required."
            intent.last_error = {"type": "card_error", "code": code, "decline_code": code, "message": message}
            self._move(intent, "requires_payment_method")
            return _error(402, "card_error", code, message, intent=intent, decline_code=code)
        if behaviour == "processing":
            intent.settles_at = self._clock() + self._settle_seconds
            self._move(intent, "processing")
        elif behaviour in ("requires_action", "requires_capture"):
            self._move(intent, behaviour)
        else:
            self._succeed(intent)
        return Answer(200, intent_object(intent))

    def _succeed(self, intent: Intent) -> None:
        intent.last_error = None
        self._move(intent, "succeeded")

    def _move(self, intent: Intent, status: str) -> None:
        intent.status = status
        self.ledger.record_intent(intent)

    def _settle(self, intent: Intent) -> None:
        if (
            intent.status == "processing"
            and intent.settles_at is not None
            and self._clock() >= intent.settles_at
        ):
            self._succeed(intent)

    def _first(self, fault: str) -> bool:
        """True once per fault: the injected failure happens now (and is journaled as spent)."""
        if self.ledger.fault_spent(fault):
            return False
        self.ledger.spend_fault(fault)
        return True

    def _find(self, intent_id: str) -> Intent:
        intent = self.ledger.intent(intent_id)
        if intent is None:
            raise SandboxError(
                404, "invalid_request_error", "resource_missing", f"No such payment_intent: {intent_id!r}"
            )
        self._settle(intent)
        return intent

    async def _idempotent(
        self, key: str | None, fingerprint: str, execute: Callable[[], Awaitable[Answer]]
    ) -> Answer:
        """Run ``execute`` under Stripe's idempotency rules (module docstring), in a task of
        its own so a client that gives up cannot abort a started request."""
        if key is not None:
            stored = self.ledger.answer(key)
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    raise SandboxError(
                        400,
                        "idempotency_error",
                        "idempotency_key_reused",
                        f"Keys for idempotent requests can only be used with the same parameters they "
                        f"were first used with; {key!r} was used with different ones.",
                    )
                return Answer(stored.status, stored.body, {**stored.headers, "Idempotent-Replayed": "true"})
            if key in self._executing:
                answer = _error(
                    409,
                    "idempotency_error",
                    "idempotency_key_in_use",
                    "Another request with this key is running.",
                )
                return Answer(answer.status, answer.body, {"Stripe-Should-Retry": "true"})
            self._executing.add(key)

        async def run() -> Answer:
            try:
                answer = await execute()
                if key is not None:
                    self.ledger.store_answer(
                        key, StoredAnswer(fingerprint, answer.status, answer.body, answer.headers)
                    )
                return answer
            finally:
                if key is not None:
                    self._executing.discard(key)

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        answer = await asyncio.shield(task)
        if answer.hang:
            await asyncio.sleep(answer.hang)
        return answer
