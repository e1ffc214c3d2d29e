"""Ports the use cases need from storage, declared once (``typing.Protocol``).

Adapters implement them structurally; ``bootstrap`` wires the real ones and the unit
tests pass in-memory fakes. Ports of a single use case may stay beside it (``holds.py``,
``expiry.py``, ``waiting_room.py``); the ones here are shared or cross a transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

from ticketmaster.domain.availability import RowProblem
from ticketmaster.domain.catalog import Catalog, ImportReport, Progress, Venue
from ticketmaster.domain.gate import RetimeResult, SeatChanges, SeatSnapshot
from ticketmaster.domain.holds import Hold, HoldStatus
from ticketmaster.domain.layout import EventInfo, VenueLayout
from ticketmaster.domain.payments import Charge, PaymentRecord, Refund
from ticketmaster.domain.purchases import Booking, Purchase
from ticketmaster.domain.reconcile import EventTruth, SeatFix


class Signer(Protocol):
    """Signs and verifies the service's tokens (bearer, queue, admission)."""

    def sign(self, typ: str, subject: str, ttl_seconds: int, **claims: Any) -> tuple[str, int]: ...
    def sign_until(self, typ: str, subject: str, expires_at: float, **claims: Any) -> str: ...
    def verify(self, token: str, typ: str) -> dict[str, Any]: ...


# --- the seat map and its live stream ---------------------------------------------------


class EventFacts(Protocol):
    """What the hot path knows of an event (cached per process)."""

    async def event_info(self, event_id: str) -> EventInfo | None: ...


class LayoutCatalog(EventFacts, Protocol):
    """Event facts and venue layouts as the hot path reads them (cached per process)."""

    async def venue_layout(self, venue_id: str, revision: int) -> VenueLayout:
        """The layout at ``revision`` (an ``EventInfo.layout_revision``) or a later one."""
        ...


class SeatStateReader(Protocol):
    """The gate's seat states: whole snapshots, or the change log between versions."""

    async def ensure_loaded(self, event_id: str) -> None: ...
    async def version(self, event_id: str) -> int | None: ...
    async def snapshot(self, event_id: str) -> SeatSnapshot: ...
    async def changes_since(self, event_id: str, version: int, *, limit: int = ...) -> SeatChanges | None: ...


# --- catalog import ----------------------------------------------------------------------


class CatalogImportTx(Protocol):
    async def stored_venues(self, venue_ids: Iterable[str]) -> dict[str, Venue]: ...
    async def stored_event_venues(self, event_ids: Iterable[str]) -> dict[str, str]: ...
    async def write(
        self,
        catalog: Catalog,
        *,
        new_venue_ids: set[str],
        cities: dict[str, str],
        progress: Progress | None = None,
    ) -> ImportReport: ...


class CatalogStore(Protocol):
    def importing(self) -> AbstractAsyncContextManager[CatalogImportTx]:
        """One transaction for a whole import; only one import runs at a time."""
        ...


# --- purchases ---------------------------------------------------------------------------


class PurchaseAcceptance(Protocol):
    """The queries of accepting a purchase, all inside one transaction holding the hold's row lock."""

    async def now(self) -> datetime: ...
    async def lock_hold(self, hold_id: str, user_id: str) -> tuple[Hold, datetime | None] | None: ...
    async def by_key(self, user_id: str, key: str) -> Purchase | None: ...
    async def live_for_hold(self, hold_id: str) -> Purchase | None: ...
    async def price(self, hold_id: str) -> list[tuple[int, str]]: ...
    async def start(self, purchase: Purchase, key: str | None, deadline: datetime) -> None: ...


class PurchaseRepository(Protocol):
    def accepting(self) -> AbstractAsyncContextManager[PurchaseAcceptance]: ...
    async def get(self, purchase_id: str) -> Purchase | None: ...
    async def booking(self, booking_id: str) -> Booking | None: ...
    async def bookings_of(self, user_id: str, limit: int = 100) -> list[Booking]: ...


class HoldRetimer(Protocol):
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
        """Point the hold's seats at it with a new status and expiry in the gate."""
        ...


class SeatReleaser(Protocol):
    async def release(
        self,
        event_id: str,
        hold_id: str,
        user_id: str,
        seat_ids: tuple[str, ...],
        *,
        forget_idempotency_key: str | None = None,
    ) -> int:
        """Free the seats still held by this hold; how many were freed."""
        ...


class SaleGate(HoldRetimer, SeatReleaser, Protocol):
    """What the purchase processor changes in the gate once PostgreSQL decided."""

    async def sell(self, event_id: str, hold_id: str, user_id: str, seat_ids: tuple[str, ...]) -> int:
        """Mark the hold's seats SOLD."""
        ...


class Closable(Protocol):
    async def close(self) -> None: ...


class PurchaseWork(Protocol):
    """The worker's side of purchases: claims under a lease, payments, the final commit."""

    async def listen_for_new(self, wake: Callable[[], None]) -> Closable | None:
        """Call ``wake`` on every new PENDING purchase until closed; None if it cannot."""
        ...

    async def claim(self, worker: str, limit: int, lease_seconds: float) -> list[Purchase]: ...
    async def extend_lease(self, purchase_id: str, worker: str, lease_seconds: float) -> bool: ...
    def payment_record(self, purchase: Purchase) -> PaymentRecord: ...
    async def mark_charge_started(self, purchase_id: str) -> None: ...
    async def pending_summary(self) -> tuple[int, float]: ...
    async def record_payment(
        self, purchase: Purchase, provider: str, status: str, provider_payment_id: str | None
    ) -> None: ...
    async def retry_later(self, purchase_id: str, worker: str, delay_seconds: float) -> None: ...
    async def confirm(self, purchase: Purchase, worker: str, booking_id: str) -> Booking | None:
        """Booking rows, purchase SUCCEEDED and hold PURCHASED in one commit; None if another
        worker finished it. Raises SeatConflict, PaymentWindowClosed, or Unavailable (the
        outcome is then unknown)."""
        ...

    async def get(self, purchase_id: str) -> Purchase | None: ...
    async def fail(self, purchase: Purchase, worker: str | None, reason: str) -> Hold | None: ...
    async def sold_seats(self, event_id: str, seat_ids: tuple[str, ...]) -> tuple[str, ...]: ...
    async def hold_expires_at(self, hold_id: str) -> datetime | None: ...


# --- reconcile and audit -----------------------------------------------------------------


class ConsistencyReader(Protocol):
    """PostgreSQL's side of reconcile and audit: read-only, safe during a sale."""

    async def live_event_ids(self) -> list[str]: ...
    async def event_truth(self, event_id: str) -> EventTruth: ...
    async def existing_holds(self, hold_ids: list[str]) -> dict[str, str]: ...
    async def seats_sold_twice(self) -> list[tuple[str, str, int]]: ...
    async def seats_held_twice(self) -> list[tuple[str, str, list[str]]]: ...
    async def held_and_sold(self) -> list[tuple[str, str, str]]: ...
    async def overdue_active_holds(self, grace_seconds: float) -> list[tuple[str, float]]: ...
    async def purchases_vs_bookings(self) -> list[str]: ...
    async def succeeded_purchases(self) -> dict[str, int]: ...
    async def purchase_statuses(self, purchase_ids: list[str]) -> dict[str, str]: ...


class GateInspector(HoldRetimer, SeatReleaser, Protocol):
    """The gate's side of reconcile and audit."""

    async def is_loaded(self, event_id: str) -> bool:
        """Whether the event's state is in the gate (else it is rebuilt on first touch)."""
        ...

    async def snapshot(self, event_id: str) -> SeatSnapshot: ...

    async def apply_seat_fixes(self, event_id: str, fixes: list[SeatFix]) -> set[str]:
        """Apply each fix whose seat still has the state it expects; the seats changed."""
        ...

    async def index_problems(self, event_id: str) -> dict[int, RowProblem]:
        """Row -> what is wrong, for each row of the availability index that disagrees with
        the seat states (domain/availability.py)."""
        ...

    async def rebuild_index_rows(self, event_id: str, indexes: Iterable[int]) -> int:
        """Rebuild those rows of the availability index from the seat states."""
        ...


# --- payments ------------------------------------------------------------------------


class PaymentProvider(Protocol):
    """Where money moves (contract: domain/payments.py). Implementations: the sandbox client
    and the Stripe adapter."""

    async def charge(
        self,
        *,
        idempotency_key: str,
        amount_cents: int,
        currency: str,
        payment_token: str,
        metadata: Mapping[str, str] | None = None,
        record: PaymentRecord | None = None,
    ) -> Charge:
        """Charge once per key (see the module contract); raise a :class:`PaymentError`."""
        ...

    async def abandon(
        self,
        *,
        idempotency_key: str,
        amount_cents: int,
        currency: str,
        payment_token: str,
        metadata: Mapping[str, str] | None = None,
        record: PaymentRecord | None = None,
    ) -> Charge | None:
        """Stop the payment for good (see the module contract); the charge if money moved."""
        ...

    async def refund(self, *, charge_id: str, idempotency_key: str) -> Refund:
        """Fully refund a succeeded charge, idempotently; raise a :class:`PaymentError`."""
        ...

    async def aclose(self) -> None:
        """Release connections; the provider is unusable afterwards."""
        ...
