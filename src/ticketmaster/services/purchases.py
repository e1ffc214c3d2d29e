"""Use cases: accept a purchase of a hold (202), read purchases and bookings.

Accepting is one PostgreSQL transaction holding the hold row's lock, with the Redis
hold moved to PURCHASING inside it: the seats stay reserved until the payment deadline
(see domain/purchases.py), and neither a cancel nor an expiry sweep can slip between
"the hold is still active" and "the purchase is recorded". If that commit is in doubt,
the Redis hold stays PURCHASING until the deadline: the worker goes on with the purchase
if it was recorded, and the seats come free at the deadline if it was not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ticketmaster.domain import purchases as rules
from ticketmaster.domain.errors import (
    CommitInDoubt,
    HoldNotActive,
    IdempotencyConflict,
    InvalidRequest,
    NotFound,
)
from ticketmaster.domain.gate import RetimeResult
from ticketmaster.domain.holds import Hold, HoldStatus, check_idempotency_key
from ticketmaster.domain.ids import new_id
from ticketmaster.domain.purchases import Booking, Purchase, PurchaseStatus
from ticketmaster.services.ports import HoldRetimer, PurchaseRepository


@dataclass(frozen=True, slots=True)
class RequestPurchase:
    hold_id: str
    user_id: str
    payment_token: object
    idempotency_key: str | None


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


@dataclass
class PurchaseService:
    repo: PurchaseRepository
    gate: HoldRetimer
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    async def request(self, cmd: RequestPurchase) -> Purchase:
        token = rules.check_payment_token(cmd.payment_token)
        key = check_idempotency_key(cmd.idempotency_key) if cmd.idempotency_key is not None else None
        retimed: Hold | None = None
        try:
            async with self.repo.accepting() as tx:
                locked = await tx.lock_hold(cmd.hold_id, cmd.user_id)
                if locked is None:
                    raise NotFound(f"hold {cmd.hold_id!r} does not exist")
                hold, _ = locked
                # After the lock: a concurrent duplicate with this key has committed by now.
                if key is not None:
                    earlier = await tx.by_key(cmd.user_id, key)
                    if earlier is not None:
                        if earlier.hold_id != cmd.hold_id or earlier.payment_token != token:
                            raise IdempotencyConflict("this Idempotency-Key was used for another purchase")
                        return earlier
                now = await tx.now()
                status = hold.status_at(now)
                if status in (HoldStatus.PURCHASING, HoldStatus.PURCHASED) and key is None:
                    live = await tx.live_for_hold(hold.id)
                    if live is not None:
                        return live
                if status is not HoldStatus.ACTIVE:
                    raise HoldNotActive(f"hold is {status.value}", status=status.value)
                prices = await tx.price(hold.id)
                currencies = {currency for _, currency in prices}
                if len(prices) != len(hold.seat_ids) or len(currencies) != 1:
                    raise InvalidRequest("these seats cannot be priced in a single currency", field="holdId")
                deadline = now + rules.PAYMENT_WINDOW
                purchase = Purchase(
                    id=new_id("pur"),
                    hold_id=hold.id,
                    user_id=hold.user_id,
                    event_id=hold.event_id,
                    status=PurchaseStatus.PENDING,
                    payment_token=token,
                    amount_cents=sum(p for p, _ in prices),
                    currency=currencies.pop(),
                    seat_ids=hold.seat_ids,
                    payment_deadline=deadline,
                    created_at=now,
                )
                # Inside the row lock: extend the Redis hold to the deadline, or learn it lapsed.
                moved = await self.gate.retime(
                    hold.event_id,
                    hold.id,
                    hold.user_id,
                    hold.seat_ids,
                    status=HoldStatus.PURCHASING,
                    expires_at_ms=_ms(deadline),
                    require_live=True,
                )
                if moved is not RetimeResult.DONE:
                    raise HoldNotActive("hold has expired", status=HoldStatus.EXPIRED.value)
                retimed = hold
                await tx.start(purchase, key, deadline)
        except BaseException as exc:
            if retimed is not None and not isinstance(exc, CommitInDoubt):
                # Not recorded (the commit failed): give the seats back their own expiry.
                await self.gate.retime(
                    retimed.event_id,
                    retimed.id,
                    retimed.user_id,
                    retimed.seat_ids,
                    status=HoldStatus.ACTIVE,
                    expires_at_ms=_ms(retimed.expires_at),
                    require_live=False,
                )
            raise
        return purchase

    async def get(self, user_id: str, purchase_id: str) -> Purchase:
        purchase = await self.repo.get(purchase_id)
        if purchase is None or purchase.user_id != user_id:
            raise NotFound(f"purchase {purchase_id!r} does not exist")
        return purchase

    async def booking(self, user_id: str, booking_id: str) -> Booking:
        booking = await self.repo.booking(booking_id)
        if booking is None or booking.user_id != user_id:
            raise NotFound(f"booking {booking_id!r} does not exist")
        return booking

    async def bookings(self, user_id: str) -> list[Booking]:
        return await self.repo.bookings_of(user_id)
