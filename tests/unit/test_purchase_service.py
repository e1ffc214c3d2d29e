"""Accepting a purchase against in-memory fakes of its ports: what happens to the Redis
hold when the transaction that records the purchase fails, or may have committed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from ticketmaster.domain.errors import CommitInDoubt, Unavailable
from ticketmaster.domain.gate import RetimeResult
from ticketmaster.domain.holds import Hold, HoldStatus
from ticketmaster.domain.purchases import PAYMENT_WINDOW, Booking, Purchase
from ticketmaster.services.purchases import PurchaseService, RequestPurchase

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOLD = Hold("hold_1", "evt_1", "usr_1", ("A-1-1",), HoldStatus.ACTIVE, NOW + timedelta(minutes=1), "fp")


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass
class FakeTx:
    started: list[Purchase] = field(default_factory=list)

    async def now(self) -> datetime:
        return NOW

    async def lock_hold(self, hold_id: str, user_id: str) -> tuple[Hold, datetime | None] | None:
        return (HOLD, None) if (hold_id, user_id) == (HOLD.id, HOLD.user_id) else None

    async def by_key(self, user_id: str, key: str) -> Purchase | None:
        return None

    async def live_for_hold(self, hold_id: str) -> Purchase | None:
        return None

    async def price(self, hold_id: str) -> list[tuple[int, str]]:
        return [(5000, "EUR")]

    async def start(self, purchase: Purchase, key: str | None, deadline: datetime) -> None:
        self.started.append(purchase)


@dataclass
class FakeRepo:
    commit_fails_with: Exception
    tx: FakeTx = field(default_factory=FakeTx)

    @asynccontextmanager
    async def accepting(self) -> AsyncIterator[FakeTx]:
        yield self.tx
        raise self.commit_fails_with

    async def get(self, purchase_id: str) -> Purchase | None:
        return None

    async def booking(self, booking_id: str) -> Booking | None:
        return None

    async def bookings_of(self, user_id: str, limit: int = 100) -> list[Booking]:
        return []


@dataclass
class FakeGate:
    moves: list[tuple[HoldStatus, int]] = field(default_factory=list)

    async def retime(
        self,
        event_id: str,
        hold_id: str,
        user_id: str,
        seat_ids: tuple[str, ...],
        *,
        status: HoldStatus,
        expires_at_ms: int,
        require_live: bool,
    ) -> RetimeResult:
        self.moves.append((status, expires_at_ms))
        return RetimeResult.DONE


def purchase_request() -> RequestPurchase:
    return RequestPurchase(HOLD.id, HOLD.user_id, "tok_visa", "pay-1")


async def test_a_failed_commit_gives_the_seats_back_their_own_expiry() -> None:
    gate = FakeGate()
    service = PurchaseService(FakeRepo(Unavailable("PostgreSQL refused the commit")), gate, clock=lambda: NOW)

    with pytest.raises(Unavailable):
        await service.request(purchase_request())

    assert gate.moves == [
        (HoldStatus.PURCHASING, ms(NOW + PAYMENT_WINDOW)),
        (HoldStatus.ACTIVE, ms(HOLD.expires_at)),
    ]


async def test_a_commit_in_doubt_keeps_the_seats_until_the_payment_deadline() -> None:
    # The purchase may be recorded: the worker may be charging the card right now, so the
    # seats must not come free at the hold's own (earlier) expiry.
    gate = FakeGate()
    repo = FakeRepo(CommitInDoubt("connection lost during the commit"))
    service = PurchaseService(repo, gate, clock=lambda: NOW)

    with pytest.raises(CommitInDoubt):
        await service.request(purchase_request())

    assert len(repo.tx.started) == 1
    assert gate.moves == [(HoldStatus.PURCHASING, ms(NOW + PAYMENT_WINDOW))]
