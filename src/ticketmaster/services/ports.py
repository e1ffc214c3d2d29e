"""Ports the use cases need from storage, declared once (``typing.Protocol``).

Adapters implement them structurally; ``bootstrap`` wires the real ones and the unit
tests pass in-memory fakes. Ports of a single use case may stay beside it (``holds.py``,
``expiry.py``, ``waiting_room.py``); the ones here are shared or cross a transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

from ticketmaster.domain.catalog import Catalog, ImportReport, Progress, Venue
from ticketmaster.domain.gate import RetimeResult, SeatChanges, SeatSnapshot
from ticketmaster.domain.holds import Hold, HoldStatus
from ticketmaster.domain.layout import EventInfo, VenueLayout
from ticketmaster.domain.purchases import Booking, Purchase
from ticketmaster.domain.reconcile import EventTruth, SeatFix


class Signer(Protocol):
    """Signs and verifies the service's tokens (bearer, queue, admission)."""

    def sign(self, typ: str, subject: str, ttl_seconds: int, **claims: Any) -> tuple[str, int]: ...
    def sign_until(self, typ: str, subject: str, expires_at: float, **claims: Any) -> str: ...
    def verify(self, token: str, typ: str) -> dict[str, Any]: ...


# --- the seat map and its live stream ---------------------------------------------------


class LayoutCatalog(Protocol):
    """Event facts and venue layouts as the hot path reads them (cached per process)."""

    async def event_info(self, event_id: str) -> EventInfo | None: ...
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


class GateInspector(HoldRetimer, Protocol):
    """The gate's side of reconcile and audit."""

    async def is_loaded(self, event_id: str) -> bool:
        """Whether the event's state is in the gate (else it is rebuilt on first touch)."""
        ...

    async def snapshot(self, event_id: str) -> SeatSnapshot: ...

    async def apply_seat_fixes(self, event_id: str, fixes: list[SeatFix]) -> set[str]:
        """Apply each fix whose seat still has the state it expects; the seats changed."""
        ...

    async def release(
        self,
        event_id: str,
        hold_id: str,
        user_id: str,
        seat_ids: tuple[str, ...],
        *,
        forget_idempotency_key: str | None = None,
    ) -> int: ...
