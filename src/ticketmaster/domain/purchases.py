"""Purchases and bookings: the rules of paying for a hold, independent of storage.

Purchase state machine (PostgreSQL row, claimed by workers with a lease):

    PENDING --charge succeeded, seats confirmed--> SUCCEEDED   (hold PURCHASED, booking)
    PENDING --card declined--> FAILED card_declined          (hold ACTIVE again until expiry)
    PENDING --charged but seats not confirmable--> FAILED seat_conflict (charge refunded)
    PENDING --charged only after the payment deadline--> FAILED hold_expired (refunded)
    PENDING --definite refusal (invalid token)--> FAILED payment_error
    PENDING --payment in a status we never ask for (requires_action, requires_capture…),
              cancelled at the provider--> FAILED payment_cancelled (hold ACTIVE again)
    PENDING --timeout / provider error / processing--> PENDING (retried later, same payment)
    PENDING --deadline passed, never charged--> FAILED hold_expired (no provider call)
    PENDING --deadline passed, payment started--> the payment is cancelled, or refunded if it
              moved money; FAILED hold_expired once its outcome is known

Payment window: a purchase accepted while its hold is ACTIVE moves the hold to PURCHASING
and keeps the seats until ``payment_deadline`` = acceptance + PAYMENT_WINDOW (5 minutes),
however close the hold was to expiring. A payment whose outcome stays unknown is retried
under the same key until the provider answers definitely (never abandoned: the card may
have been charged); a success that arrives after the deadline is refunded. After the
deadline nothing new is charged: an unfinished payment is cancelled, a finished one refunded.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ticketmaster.domain.errors import InvalidRequest

PAYMENT_WINDOW = timedelta(minutes=5)
PAYMENT_TOKEN = re.compile(r"[A-Za-z0-9_\-]{1,255}")


class PurchaseStatus(StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class FailureReason(StrEnum):
    CARD_DECLINED = "card_declined"
    HOLD_EXPIRED = "hold_expired"
    PAYMENT_ERROR = "payment_error"
    PAYMENT_CANCELLED = "payment_cancelled"
    SEAT_CONFLICT = "seat_conflict"


@dataclass(frozen=True, slots=True)
class Purchase:
    id: str
    hold_id: str
    user_id: str
    event_id: str
    status: PurchaseStatus
    payment_token: str
    amount_cents: int
    currency: str
    seat_ids: tuple[str, ...]
    attempts: int = 0
    booking_id: str | None = None
    failure_reason: str | None = None
    payment_deadline: datetime | None = None
    created_at: datetime | None = None
    provider_payment_id: str | None = None  # the provider's payment, stored before it is confirmed
    charge_started: bool = False  # a provider call that may move money has been made

    @property
    def charge_key(self) -> str:
        """The provider idempotency key: one per purchase, reused on every retry (I3)."""
        return f"purchase-{self.id}"

    @property
    def refund_key(self) -> str:
        return f"refund-{self.id}"


@dataclass(frozen=True, slots=True)
class Booking:
    id: str
    purchase_id: str
    event_id: str
    user_id: str
    seat_ids: tuple[str, ...]
    amount_cents: int
    currency: str
    purchased_at: datetime


def check_payment_token(token: object) -> str:
    if not isinstance(token, str) or not PAYMENT_TOKEN.fullmatch(token):
        raise InvalidRequest(
            "paymentToken must be 1-255 characters of letters, digits, '_' and '-'", field="paymentToken"
        )
    return token


def retry_delay(
    attempt: int, *, base: float = 0.2, cap: float = 10.0, rng: random.Random | None = None
) -> float:
    """Exponential backoff with full jitter for provider retries (attempt counts from 1)."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return (rng or random).uniform(ceiling / 2, ceiling)


class SeatConflict(Exception):
    """The booking would sell a seat that a live booking already has (unique constraint)."""


class PaymentWindowClosed(Exception):
    """The charge succeeded only after the hold's payment deadline: its seats were released."""
