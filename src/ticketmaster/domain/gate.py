"""What the seat gate answers: its scripts' outcomes and the seat states it reads (plain
values, shared by the gate, the services and the seat-map renderer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum


class Outcome(StrEnum):
    OK = "OK"
    REPLAY = "REPLAY"
    UNAVAILABLE = "UNAVAILABLE"
    LIMIT = "LIMIT"


@dataclass(frozen=True, slots=True)
class GateResult:
    outcome: Outcome
    hold_id: str = ""
    expires_at_ms: int = 0
    fingerprint: str = ""
    unavailable: tuple[str, ...] = ()
    seat_ids: tuple[str, ...] = ()
    """The hold's seats: those chosen (OK), or as Redis records them (REPLAY; empty once the
    hold is gone)."""
    version: int = 0
    """The seat-map version a best-available refusal (UNAVAILABLE) was decided at."""
    already_held: int = 0
    already_bought: int = 0
    """On a LIMIT: the seats the buyer holds and has bought of the event."""
    records_complete: bool = False
    """On a refusal: True when Redis has every idempotency record of the event, so the
    key cannot belong to an earlier hold (no need to ask PostgreSQL)."""
    generation: int = 0
    """On OK: the event's generation the grant reached; on a REPLAY, the event's generation
    now (what PostgreSQL records with the hold: adapters/redis/generations.py)."""


@dataclass(frozen=True, slots=True)
class DueHolds:
    released: list[tuple[str, int, int]]
    """(hold id, expiry ms, seats freed) of each lapsed hold settled in Redis."""
    unknown: list[str]
    """Lapsed holds Redis has no seat record of (PostgreSQL knows their seats)."""
    next_due_ms: int | None
    """The earliest expiry still ahead."""


class RetimeResult(IntEnum):
    EXPIRED = 0
    DONE = 1
    RELEASED = 2
    CONFLICT = -1


@dataclass
class SeatSnapshot:
    """The event's non-available seats at one version (raw states from the seats hash)."""

    version: int
    states: dict[str, str] = field(default_factory=dict)
    taken_at_ms: int = 0


@dataclass(frozen=True, slots=True)
class SeatChanges:
    """What the scripts changed from version ``since`` to ``version`` (the current one), one
    entry per version in order: (version, seat id -> raw state, "" when the seat became
    AVAILABLE). Applied to the states at ``since``, they give the states ``snapshot()``
    would have returned with ``version``."""

    since: int
    version: int
    entries: tuple[tuple[int, dict[str, str]], ...] = ()
    taken_at_ms: int = 0

    def merged(self) -> dict[str, str]:
        """Each changed seat's latest raw state ("" = AVAILABLE)."""
        merged: dict[str, str] = {}
        for _, seats in self.entries:
            merged.update(seats)
        return merged
