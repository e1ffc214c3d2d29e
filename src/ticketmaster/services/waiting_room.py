"""Use cases of the waiting room: join the queue, poll its status, verify an admission.

Tokens (signed JWTs, see adapters/tokens.py), both bound to one user (``sub``) and one
event (``evt``):

* queue token, ``typ`` "queue": ``n`` the buyer's queue number, ``pos`` their position
  when it was known at join time (absent for pre-queue tickets, whose position exists
  only after the opening shuffle), ``pred`` the predicted admission time (Unix ms, for
  the ETA-error metric), ``sale`` the on-sale time (ms), ``r``/``w`` the admission rate
  and window in force at join time (fallbacks until the ticker has published them), ``ep``
  the queue's epoch (see domain/waiting_room.py).
* admission token, ``typ`` "admission": ``pos`` and ``adm`` (admitted at, Unix ms); it
  expires one admission window after the counter passed the buyer's position (or after
  the ticker readmitted the buyer, for a returner: see domain/waiting_room.py).

The status path is stateless per waiter behind the counter: the token says who and where
the buyer is, and the only shared state it reads is the event's cached :class:`QueueView`.
Its one write is the buffered heartbeat, so the ticker can pass over buyers who stopped
polling. For a position the counter has passed (few: an admitted buyer polls about once)
it reads once what the ticker did with it, because a skipped buyer holds no admission:
it waits as a returner (the poll's one write is then the buffered return) until the
ticker readmits it within the cap. Only the ticker admits, so the cap holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ticketmaster.domain import waiting_room as rules
from ticketmaster.domain.errors import (
    AdmissionRequired,
    Forbidden,
    InvalidRequest,
    MalformedRequest,
    NotFound,
    Unauthorized,
)
from ticketmaster.services.ports import EventFacts, Signer

QUEUE = "queue"
ADMISSION = "admission"
MAX_ETA_MEMORY = 100_000


class JoinedNumber(Protocol):
    @property
    def number(self) -> int: ...
    @property
    def prequeue_size(self) -> int | None: ...
    @property
    def seed(self) -> str: ...
    @property
    def epoch(self) -> str: ...


class QueueStore(Protocol):
    async def join(
        self, event_id: str, user_id: str, on_sale_at_ms: int, *, requeue_from: int | None = None
    ) -> JoinedNumber: ...
    async def view(self, event_id: str, *, fresh: bool = False) -> rules.QueueView: ...
    async def passed(self, event_id: str, position: int) -> rules.Passed: ...
    def heartbeat(self, event_id: str, position: int) -> None: ...
    def returned(self, event_id: str, position: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Joined:
    queue_token: str
    position: int | None
    estimated_wait_seconds: int
    on_sale_at_ms: int


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """What a poll answers. ``admission_token`` is set once admitted; ``lapsed`` when the
    admission window has passed (joining again gives a new place at the back)."""

    position: int | None
    ahead: int | None = None
    estimated_wait_seconds: int | None = None
    admission_token: str | None = None
    admitted_at_ms: int | None = None
    expires_at_ms: int | None = None
    lapsed: bool = False
    on_sale_at_ms: int | None = None
    eta_error_seconds: float | None = None
    """Actual minus predicted admission time, reported once per admitted position."""

    @property
    def admitted(self) -> bool:
        return self.admission_token is not None


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class WaitingRoomService:
    catalog: EventFacts
    queues: QueueStore
    signer: Signer
    hold_ttl_seconds: int
    queue_token_ttl_seconds: int
    clock_ms: Callable[[], int] = _now_ms
    _eta_reported: dict[tuple[str, int], None] = field(default_factory=dict)

    async def join(self, user_id: str, event_id: str) -> Joined:
        """Take (or get back) the buyer's place; a buyer whose admission lapsed goes to the back."""
        info = await self.catalog.event_info(event_id)
        if info is None:
            raise NotFound(f"event {event_id!r} does not exist")
        if not info.waiting_room:
            raise InvalidRequest(f"event {event_id!r} has no waiting room; hold seats directly")
        policy = rules.admission_policy(info, self.hold_ttl_seconds)
        on_sale_ms = int(info.on_sale_at.timestamp() * 1000)
        reply = await self.queues.join(event_id, user_id, on_sale_ms)
        view = await self.queues.view(event_id)
        if view.epoch != reply.epoch:  # the queue began (again) since this process last looked
            view = await self.queues.view(event_id, fresh=True)
        position = rules.position_of(reply.number, reply.prequeue_size, reply.seed)
        window_ms = view.window_ms or policy.window_seconds * 1000
        if position is not None and await self._lapsed(event_id, view, position, window_ms):
            reply = await self.queues.join(event_id, user_id, on_sale_ms, requeue_from=reply.number)
            position = rules.position_of(reply.number, reply.prequeue_size, reply.seed)
        now = self.clock_ms()
        claims: dict[str, Any] = {
            "evt": event_id,
            "n": reply.number,
            "sale": on_sale_ms,
            "r": policy.rate_per_minute,
            "w": policy.window_seconds,
            "ep": reply.epoch,
        }
        if position is None:
            eta = rules.prequeue_wait_seconds((on_sale_ms - now) / 1000, reply.number, policy.rate_per_minute)
        else:
            eta = rules.estimate_wait_seconds(
                position - view.admitted_up_to, view.measured_per_second, policy.rate_per_minute
            )
            claims |= {"pos": position, "pred": now + round(eta * 1000)}
        token, _ = self.signer.sign(QUEUE, user_id, self.queue_token_ttl_seconds, **claims)
        return Joined(token, position, rules.whole_seconds(eta), on_sale_ms)

    async def _lapsed(self, event_id: str, view: rules.QueueView, position: int, window_ms: int) -> bool:
        if position > view.admitted_up_to:
            return False
        passed = await self.queues.passed(event_id, position)
        return rules.admission_of(view, passed, position, window_ms, self.clock_ms()).lapsed

    def _queue_claims(self, user_id: str, event_id: str, token: str | None) -> dict[str, Any]:
        if not token:
            raise MalformedRequest("missing X-Queue-Token header (join the queue first)")
        try:
            claims = self.signer.verify(token, QUEUE)
        except Unauthorized as exc:
            raise Forbidden(f"queue token refused: {exc.message}") from None
        if claims.get("sub") != user_id or claims.get("evt") != event_id:
            raise Forbidden("this queue token belongs to another buyer or event")
        return claims

    async def status(self, user_id: str, event_id: str, queue_token: str | None) -> QueueStatus:
        """Signature check plus the cached view; one Redis read only for a position the counter
        has passed, none for those behind it; no PostgreSQL."""
        claims = self._queue_claims(user_id, event_id, queue_token)
        view = await self.queues.view(event_id)
        epoch = claims.get("ep")  # absent in tokens signed before queues had epochs
        if epoch is not None and epoch != view.epoch:
            view = await self.queues.view(event_id, fresh=True)
            if epoch != view.epoch:
                raise Forbidden(
                    "the waiting room lost its line (its Redis state was reset): join the queue "
                    "again for a new place; an admission token you already hold stays valid"
                )
        number = int(claims["n"])
        position = claims.get("pos")
        if position is None:
            position = view.position(number)
        rate = view.configured_per_minute or int(claims["r"])
        now = self.clock_ms()
        if position is None:  # a pre-queue ticket before the opening shuffle
            sale = int(claims["sale"])
            eta = rules.prequeue_wait_seconds((sale - now) / 1000, number, rate)
            return QueueStatus(None, estimated_wait_seconds=rules.whole_seconds(eta), on_sale_at_ms=sale)
        position = int(position)
        if position > view.admitted_up_to:
            # The poll's one write: "still here", one bit per position, buffered and flushed
            # in batches. Without it the ticker could not tell an abandoner from a patient
            # buyer, and abandoners would use up the admissions the others wait for.
            self.queues.heartbeat(event_id, position)
            eta = rules.estimate_wait_seconds(position - view.admitted_up_to, view.measured_per_second, rate)
            return QueueStatus(position, position - view.admitted_up_to - 1, rules.whole_seconds(eta))
        window_ms = view.window_ms or int(claims["w"]) * 1000
        passed = await self.queues.passed(event_id, position)
        admission = rules.admission_of(view, passed, position, window_ms, now)
        if admission.returning:
            # Skipped while silent: no admission until the ticker readmits it within the cap.
            # The poll's one write records the return (buffered, like a heartbeat).
            self.queues.returned(event_id, position)
            eta = rules.estimate_wait_seconds(1, view.measured_per_second, rate)
            return QueueStatus(position, 0, rules.whole_seconds(eta))
        admitted_at = admission.at_ms
        if admitted_at is None:
            return QueueStatus(position, 0, lapsed=True)
        eta_error = None  # a returner's wait was its own absence, not an error of the prediction
        if not admission.readmitted:
            eta_error = self._eta_error(event_id, position, claims.get("pred"), admitted_at)
        # Valid exactly until the admission lapses: whole seconds would end it up to a second
        # early (a token already expired when handed out) or late (beyond the cap's window).
        expires_ms = admitted_at + window_ms
        token = self.signer.sign_until(
            ADMISSION, user_id, expires_ms / 1000, evt=event_id, pos=position, adm=admitted_at
        )
        return QueueStatus(
            position,
            0,
            0,
            admission_token=token,
            admitted_at_ms=admitted_at,
            expires_at_ms=expires_ms,
            eta_error_seconds=eta_error,
        )

    def _eta_error(
        self, event_id: str, position: int, predicted_ms: Any, admitted_at_ms: int
    ) -> float | None:
        """Reported once per (event, position) by this process (bounded memory)."""
        if predicted_ms is None or (event_id, position) in self._eta_reported:
            return None
        if len(self._eta_reported) >= MAX_ETA_MEMORY:
            self._eta_reported.clear()
        self._eta_reported[(event_id, position)] = None
        return (admitted_at_ms - int(predicted_ms)) / 1000


@dataclass(frozen=True, slots=True)
class AdmissionVerifier:
    """The hold path's check: a valid admission token of exactly this user and event."""

    signer: Signer

    def verify(self, token: str | None, user_id: str, event_id: str) -> None:
        if not token:
            raise AdmissionRequired(
                "this event has a waiting room: join the queue and send the admission token as "
                "X-Admission-Token"
            )
        try:
            claims = self.signer.verify(token, ADMISSION)
        except Unauthorized as exc:
            raise AdmissionRequired(f"admission token refused: {exc.message}") from None
        if claims.get("sub") != user_id or claims.get("evt") != event_id:
            raise AdmissionRequired("this admission token belongs to another buyer or event")
