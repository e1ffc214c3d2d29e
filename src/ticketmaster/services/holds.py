"""Use cases: hold seats (named, or the best available), read a hold, cancel a hold.

Hold path (I2, I5): the Redis gate decides atomically; only then is the hold row
committed to PostgreSQL, and only after that commit does the buyer get a 201. If the
commit fails, the Redis hold is undone and the buyer gets 503: never a 201 for a hold
that would not survive a crash. If the commit is in doubt (sent, never confirmed), the
Redis hold stays until PostgreSQL says whether the row exists (services/hold_doubts.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from ticketmaster.domain import best_available
from ticketmaster.domain import holds as rules
from ticketmaster.domain.best_available import BestAvailable, SeatSearch
from ticketmaster.domain.errors import (
    AdmissionRequired,
    CommitInDoubt,
    HoldLimitExceeded,
    HoldNotActive,
    IdempotencyConflict,
    NotFound,
    NotOnSale,
    SeatsUnavailable,
    Unavailable,
)
from ticketmaster.domain.gate import GateResult, Outcome
from ticketmaster.domain.holds import Hold, HoldStatus, WriteOutcome
from ticketmaster.domain.ids import new_id
from ticketmaster.domain.times import rfc3339
from ticketmaster.services.hold_doubts import HoldVoider, InDoubtHolds
from ticketmaster.services.ports import LayoutCatalog, SeatReleaser

REPLAY_WAIT_S = 2.0


@dataclass(frozen=True, slots=True)
class HoldSeats:
    """Hold ``seat_ids``, or, with ``best``, the seats the gate picks (``seat_ids`` empty)."""

    event_id: str
    user_id: str
    seat_ids: list[str]
    idempotency_key: str | None
    admission_token: str | None = None
    best: BestAvailable | None = None


class SeatGate(SeatReleaser, Protocol):
    async def hold(
        self,
        event_id: str,
        hold_id: str,
        user_id: str,
        seat_ids: tuple[str, ...],
        ttl_ms: int,
        fingerprint: str,
        idempotency_key: str,
        *,
        max_seats: int | None = None,
    ) -> GateResult: ...
    async def hold_best(
        self,
        event_id: str,
        hold_id: str,
        user_id: str,
        search: SeatSearch,
        ttl_ms: int,
        fingerprint: str,
        idempotency_key: str,
        *,
        max_seats: int | None = None,
    ) -> GateResult: ...
    async def idempotency_record(self, event_id: str, user_id: str, key: str) -> str | None: ...


class AdmissionCheck(Protocol):
    def verify(self, token: str | None, user_id: str, event_id: str) -> None:
        """Raise AdmissionRequired unless ``token`` admits exactly this user to this event."""
        ...


class HoldRepository(HoldVoider, Protocol):
    async def get(self, hold_id: str) -> Hold | None: ...
    async def by_idempotency_key(self, user_id: str, key: str) -> Hold | None: ...
    async def cancel(self, hold_id: str, user_id: str) -> Hold | None: ...


class DurableWriter(Protocol):
    async def write_hold(self, hold: Hold, idempotency_key: str, generation: int = 0) -> WriteOutcome:
        """Commit the hold (concurrent writes may share one commit), with the event
        generation its grant reached in the gate."""
        ...


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass
class HoldService:
    catalog: LayoutCatalog
    gate: SeatGate
    holds: HoldRepository
    writer: DurableWriter
    hold_ttl_seconds: int
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    admission: AdmissionCheck | None = None
    """Checks admission tokens while an event's waiting room is on; None refuses them all."""
    _inflight: dict[str, asyncio.Future[Hold | None]] = field(default_factory=dict)
    doubts: InDoubtHolds = field(init=False)

    def __post_init__(self) -> None:
        self.doubts = InDoubtHolds(self.holds, self.gate, self.clock)

    async def close(self) -> None:
        await self.doubts.close()

    async def hold_seats(self, cmd: HoldSeats) -> Hold:
        key = rules.check_idempotency_key(cmd.idempotency_key)
        info = await self.catalog.event_info(cmd.event_id)
        if info is None:
            raise NotFound(f"event {cmd.event_id!r} does not exist")
        if self.clock() < info.on_sale_at:
            raise NotOnSale("this event is not on sale yet", onSaleAt=rfc3339(info.on_sale_at))
        if info.waiting_room:
            if self.admission is None:
                raise AdmissionRequired("this event has a waiting room and admissions are not configured")
            self.admission.verify(cmd.admission_token, cmd.user_id, cmd.event_id)
        layout = await self.catalog.venue_layout(info.venue_id, info.layout_revision)
        ttl_ms = self.hold_ttl_seconds * 1000
        limit = info.max_tickets_per_buyer  # None: the gate's default (8)
        ask: Callable[[str], Awaitable[GateResult]]
        if cmd.best is None:
            seats = rules.check_seat_request(cmd.seat_ids, layout.seat_ids)
            fingerprint = rules.fingerprint(cmd.event_id, seats)

            def ask(hold_id: str) -> Awaitable[GateResult]:
                return self.gate.hold(
                    cmd.event_id, hold_id, cmd.user_id, seats, ttl_ms, fingerprint, key, max_seats=limit
                )

        else:
            seats = ()  # the gate picks them
            sections = best_available.allowed_sections(cmd.best, info, layout)
            search = SeatSearch(
                cmd.best.count, cmd.best.adjacent, best_available.row_ranges(layout, sections)
            )
            fingerprint = cmd.best.fingerprint(cmd.event_id)

            def ask(hold_id: str) -> Awaitable[GateResult]:
                return self.gate.hold_best(
                    cmd.event_id, hold_id, cmd.user_id, search, ttl_ms, fingerprint, key, max_seats=limit
                )

        for _ in range(3):
            hold = await self._attempt(cmd, key, seats, fingerprint, ask, limit)
            if hold is not None:
                return hold
        raise Unavailable("the hold could not be confirmed; retry with the same Idempotency-Key")

    async def _attempt(
        self,
        cmd: HoldSeats,
        key: str,
        seats: tuple[str, ...],
        fingerprint: str,
        ask: Callable[[str], Awaitable[GateResult]],
        limit: int | None,
    ) -> Hold | None:
        """One pass through the gate (``ask(hold_id)``; ``seats`` empty when it picks them);
        None means "the state moved under us, go again"."""
        hold_id = new_id("hold")
        try:
            reply = await ask(hold_id)
        except Exception:
            # The script may have run before the failure (e.g. a timeout): undo it, so no hold
            # without a row blocks seats and the key stays usable. Harmless if it never ran.
            await self._undo(
                Hold(
                    hold_id,
                    cmd.event_id,
                    cmd.user_id,
                    seats,  # none for best available: the gate releases what it recorded
                    HoldStatus.ACTIVE,
                    datetime.now(UTC),
                    fingerprint,
                ),
                key,
            )
            raise
        if reply.outcome is Outcome.OK:
            hold = Hold(
                id=hold_id,
                event_id=cmd.event_id,
                user_id=cmd.user_id,
                seat_ids=tuple(sorted(seats or reply.seat_ids)),
                status=HoldStatus.ACTIVE,
                expires_at=_utc(reply.expires_at_ms),
                fingerprint=fingerprint,
            )
            return await self._make_durable(hold, key, reply.generation)
        if reply.outcome is Outcome.REPLAY:
            if reply.fingerprint != fingerprint:
                raise IdempotencyConflict("this Idempotency-Key was used with a different request")
            return await self._await_durable(cmd, key, seats, reply)
        # Refused by the gate: the key may still belong to a hold Redis has forgotten.
        if not reply.records_complete:
            earlier = await self._earlier(cmd.user_id, key, cmd.event_id, fingerprint)
            if earlier is not None:
                return earlier
        if reply.outcome is Outcome.UNAVAILABLE and cmd.best is not None:
            # The version lets a client (or a test) see the seat map the gate found no fit in.
            raise SeatsUnavailable("no available seats fit this request", seatIds=[], version=reply.version)
        if reply.outcome is Outcome.UNAVAILABLE:
            raise SeatsUnavailable("some of these seats are not available", seatIds=list(reply.unavailable))
        raise HoldLimitExceeded(
            "a buyer may hold or buy at most "
            f"{limit or rules.MAX_SEATS_PER_USER_PER_EVENT} seats of this event",
            seatsHeld=reply.already_held,
            seatsBought=reply.already_bought,
        )

    async def _make_durable(self, hold: Hold, key: str, generation: int) -> Hold | None:
        future: asyncio.Future[Hold | None] = asyncio.get_running_loop().create_future()
        self._inflight[hold.id] = future
        try:
            try:
                outcome = await self.writer.write_hold(hold, key, generation)
            except CommitInDoubt as exc:
                self.doubts.add(hold, key)  # held in Redis until PostgreSQL tells
                raise Unavailable(
                    "the hold may not have been saved; retry with the same Idempotency-Key"
                ) from exc
            except Exception as exc:
                await self._undo(hold, key)
                if isinstance(exc, Unavailable):
                    raise
                raise Unavailable("the hold could not be saved; nothing is held") from exc
            if outcome is WriteOutcome.KEY_TAKEN:
                # Redis forgot an older hold made with this key: answer with that one.
                await self._undo(hold, key)
                earlier = await self._earlier(hold.user_id, key, hold.event_id, hold.fingerprint)
                if earlier is None:
                    raise Unavailable("the hold could not be saved; nothing is held")
                future.set_result(earlier)
                return earlier
            if outcome is WriteOutcome.PRESENT:
                # Another request adopted the same hold, or it was voided (in doubt, never made).
                existing = await self.holds.get(hold.id)
                if existing is None or existing.is_void:
                    await self._undo(hold, key)  # whoever voided it may not have released it yet
                    future.set_result(None)
                    return None
            future.set_result(hold)
            return hold
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved: waiting replays get it, nobody else must
            raise
        finally:
            self._inflight.pop(hold.id, None)

    async def _undo(self, hold: Hold, key: str) -> None:
        try:
            await self.gate.release(
                hold.event_id, hold.id, hold.user_id, hold.seat_ids, forget_idempotency_key=key
            )
        except Exception:  # Redis down too: the hold key expires by its TTL anyway
            return

    async def _earlier(self, user_id: str, key: str, event_id: str, fingerprint: str) -> Hold | None:
        earlier = await self.holds.by_idempotency_key(user_id, key)
        if earlier is None:
            return None
        if earlier.event_id != event_id or earlier.fingerprint != fingerprint:
            raise IdempotencyConflict("this Idempotency-Key was used with a different request")
        return earlier

    async def _await_durable(
        self, cmd: HoldSeats, key: str, seats: tuple[str, ...], reply: GateResult
    ) -> Hold | None:
        """A duplicate of an earlier request: answer with its hold once that is durable.

        The first request normally commits within milliseconds (awaited directly when it
        runs in this process). If its row never appears although Redis still holds the
        seats for it, that request died between the gate and the commit: this one adopts
        the hold and commits the row itself (same id, same seats; ON CONFLICT keeps one).
        """
        inflight = self._inflight.get(reply.hold_id)
        if inflight is not None:
            return await asyncio.shield(inflight)
        seats = seats or reply.seat_ids  # best available: the seats Redis recorded for it
        deadline = time.monotonic() + REPLAY_WAIT_S
        delay = 0.005
        while time.monotonic() < deadline:
            hold = await self.holds.get(reply.hold_id)
            if hold is not None and hold.is_void:
                await self._undo(hold, key)  # never made: let its seats and the key go, then afresh
                return None
            if hold is not None:
                return hold
            # The first request runs in another process; if it was undone, start afresh.
            if await self.gate.idempotency_record(cmd.event_id, cmd.user_id, key) is None:
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
        adopted = Hold(
            id=reply.hold_id,
            event_id=cmd.event_id,
            user_id=cmd.user_id,
            seat_ids=tuple(sorted(seats)),
            status=HoldStatus.ACTIVE,
            expires_at=_utc(reply.expires_at_ms),
            fingerprint=reply.fingerprint,
        )
        if adopted.expires_at <= self.clock() or not seats:
            await self._undo(adopted, key)  # lapsed (or gone) before anyone made it durable
            return None
        return await self._make_durable(adopted, key, reply.generation)

    async def get_hold(self, user_id: str, hold_id: str) -> tuple[Hold, HoldStatus]:
        hold = await self.holds.get(hold_id)
        if hold is None or hold.user_id != user_id or hold.is_void:
            raise NotFound(f"hold {hold_id!r} does not exist")
        return hold, hold.status_at(self.clock())

    async def cancel_hold(self, user_id: str, hold_id: str) -> None:
        """Durably cancel, then free the seats at once. Repeating it is harmless."""
        hold = await self.holds.cancel(hold_id, user_id)
        if hold is None or hold.is_void:
            raise NotFound(f"hold {hold_id!r} does not exist")
        status = hold.status_at(self.clock())
        if status in (HoldStatus.PURCHASING, HoldStatus.PURCHASED):
            raise HoldNotActive(f"hold is {status.value}; it can no longer be cancelled", status=status.value)
        await self.gate.release(hold.event_id, hold.id, hold.user_id, hold.seat_ids)
