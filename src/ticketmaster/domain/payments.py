"""Payments: charges, refunds, typed provider failures, and the provider contract.

The port itself is ``services.ports.PaymentProvider``. Contract every implementation keeps
(it is what invariant I3 rests on):

- ``charge`` with an idempotency key the provider has seen, and the same parameters,
  returns the *same* charge (same id) and never moves money twice. A provider whose
  payments are objects of their own (a Stripe PaymentIntent) stores the id in the
  purchase's :class:`PaymentRecord` *before* it can move money, and from then on
  learns the outcome by reading that payment, never by creating another.
- ``abandon`` (the payment deadline has passed) starts nothing new: it makes sure the
  purchase's payment can no longer move money and returns the :class:`Charge` if it
  already did (the caller refunds it), None if it never will.
- A retryable error (:class:`PaymentTimeout`, :class:`ProviderError` with
  ``retryable=True``) means the outcome is **unknown**: the charge may or may not have
  happened. The only safe follow-up is to retry with the *same* key (and parameters)
  until a definite answer — a :class:`Charge` or a non-retryable error. Never retry a
  charge with a fresh key, and never conclude "not charged" from a retryable error.
- Non-retryable errors are definite: :class:`CardDeclined` (no money moved; the buyer
  may try another card, under a new key), :class:`IdempotencyMismatch` (a bug: the key
  was reused with other parameters), :class:`PaymentRejected` (the provider refused the
  request as invalid, e.g. an unknown token or refunding an unpaid charge),
  :class:`PaymentCancelled` (the payment reached a status we never ask for and was
  cancelled: no money moved, any authorisation was released).
- ``refund`` fully refunds a succeeded charge; repeating it returns the same refund.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

ChargeStatus = Literal["succeeded", "processing"]


@dataclass(frozen=True, slots=True)
class Charge:
    """A charge the provider accepted.

    ``succeeded``: money moved. ``processing`` (Stripe, for asynchronous payment methods
    only; never for cards or the sandbox): accepted but not final — do not treat it as paid.
    """

    id: str
    status: ChargeStatus


@dataclass(frozen=True, slots=True)
class Refund:
    """A refund of a whole charge; ``status`` is the provider's (``succeeded``, ``pending``…)."""

    id: str
    charge_id: str
    status: str


class PaymentError(Exception):
    """Base of every provider failure; ``retryable`` says whether retrying the same key may help."""

    retryable: bool = False
    code: str = "payment_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class CardDeclined(PaymentError):
    """The card was declined; no money moved. ``charge_id`` is the declined attempt, if known."""

    code = "card_declined"

    def __init__(self, message: str, *, code: str | None = None, charge_id: str | None = None) -> None:
        super().__init__(message, code=code)
        self.charge_id = charge_id


class PaymentTimeout(PaymentError):
    """No answer in time, or the connection broke mid-request: the outcome is unknown."""

    retryable = True
    code = "payment_timeout"


class ProviderError(PaymentError):
    """The provider failed (5xx, rate limit, unreachable) or refused our credentials.

    Retryable unless it is a configuration problem (``retryable=False``, e.g. a bad API key).
    """

    code = "provider_error"

    def __init__(self, message: str, *, code: str | None = None, retryable: bool = True) -> None:
        super().__init__(message, code=code)
        self.retryable = retryable


class IdempotencyMismatch(PaymentError):
    """The idempotency key was already used with different parameters (a caller bug)."""

    code = "idempotency_key_reused"


class PaymentRejected(PaymentError):
    """The provider refused the request as invalid (unknown token, unrefundable charge…)."""

    code = "payment_rejected"


class PaymentCancelled(PaymentError):
    """The payment reached a status we never ask for (``status``: requires_action,
    requires_capture…) and was cancelled at the provider; no money moved."""

    code = "payment_cancelled"

    def __init__(self, message: str, *, status: str, charge_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.charge_id = charge_id


class PaymentRecord(Protocol):
    """The purchase's durable memory of the one provider payment made for it (I3)."""

    @property
    def payment_id(self) -> str | None:
        """The provider payment stored for the purchase, if any."""
        ...

    async def remember(self, payment_id: str) -> str:
        """Store ``payment_id`` unless one is stored already; the id on record (first wins)."""
        ...


@dataclass(slots=True)
class InMemoryPaymentRecord:
    """A :class:`PaymentRecord` that lives as long as the object (tests, one-off calls)."""

    payment_id: str | None = None

    async def remember(self, payment_id: str) -> str:
        if self.payment_id is None:
            self.payment_id = payment_id
        return self.payment_id
