"""Holds: the rules of holding seats, independent of storage.

State machine (PostgreSQL row; Redis mirrors the live ones):

    ACTIVE --cancel--> CANCELLED
    ACTIVE --time passes expires_at--> EXPIRED   (derived at read time; sweepers persist it)
    ACTIVE --purchase accepted--> PURCHASING --paid--> PURCHASED
                                  PURCHASING --declined / failed--> ACTIVE (until expires_at)
    (commit in doubt, found never made) --> CANCELLED without seats (a void row, see is_void)

An ACTIVE hold past ``expires_at`` is EXPIRED whatever the row says, so expiry never
depends on a sweeper having run.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ticketmaster.domain.errors import InvalidRequest, MalformedRequest

MAX_SEATS_PER_HOLD = 8
MAX_SEATS_PER_USER_PER_EVENT = 8
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


class HoldStatus(StrEnum):
    ACTIVE = "ACTIVE"
    PURCHASING = "PURCHASING"
    PURCHASED = "PURCHASED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True, slots=True)
class Hold:
    id: str
    event_id: str
    user_id: str
    seat_ids: tuple[str, ...]
    status: HoldStatus
    expires_at: datetime
    fingerprint: str

    def status_at(self, now: datetime) -> HoldStatus:
        """The status a buyer sees at ``now`` (an ACTIVE hold past expiry is EXPIRED)."""
        if self.status is HoldStatus.ACTIVE and now >= self.expires_at:
            return HoldStatus.EXPIRED
        return self.status

    @property
    def is_void(self) -> bool:
        """A void row: written under the id of a hold whose commit was in doubt and never
        happened, so that no late retry commits it (services/hold_doubts.py)."""
        return self.status is HoldStatus.CANCELLED and not self.seat_ids


class WriteOutcome(StrEnum):
    """What committing a hold row did."""

    INSERTED = "inserted"  # this call made the row durable
    PRESENT = "present"  # the same hold id was already durable (an idempotent replay)
    KEY_TAKEN = "key_taken"  # another hold already owns (user, Idempotency-Key)


@dataclass(frozen=True, slots=True)
class BlockingHold:
    """A hold and how long its seats stay blocked: an ACTIVE hold until ``expires_at``, a
    PURCHASING one until its payment deadline (the payment must not lose its seats). What
    rebuild, reconcile, audit and expiry know of a hold."""

    id: str
    event_id: str
    user_id: str
    status: HoldStatus
    blocks_until_ms: int
    seat_ids: tuple[str, ...]


def check_idempotency_key(key: str | None) -> str:
    if key is None:
        raise MalformedRequest("the Idempotency-Key header is required", field="Idempotency-Key")
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise MalformedRequest(
            "Idempotency-Key must be 1-255 printable ASCII characters without spaces",
            field="Idempotency-Key",
        )
    return key


def check_seat_request(seat_ids: list[str], known: frozenset[str]) -> tuple[str, ...]:
    """1..8 distinct seats of the event's venue, in the order asked (raises InvalidRequest)."""
    if not seat_ids:
        raise InvalidRequest("seatIds must name at least one seat", field="seatIds")
    if len(seat_ids) > MAX_SEATS_PER_HOLD:
        raise InvalidRequest(f"a hold covers at most {MAX_SEATS_PER_HOLD} seats", field="seatIds")
    duplicates = sorted({s for s in seat_ids if seat_ids.count(s) > 1})
    if duplicates:
        raise InvalidRequest("seatIds must be distinct", field="seatIds", seatIds=duplicates)
    unknown = [s for s in seat_ids if s not in known]
    if unknown:
        raise InvalidRequest("unknown seat ids for this event", field="seatIds", seatIds=unknown)
    return tuple(seat_ids)


def fingerprint(event_id: str, seat_ids: tuple[str, ...]) -> str:
    """Identifies "the same request body": same event, same set of seats."""
    canonical = event_id + "\n" + "\n".join(sorted(seat_ids))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
