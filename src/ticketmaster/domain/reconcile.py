"""Planning drift repairs between PostgreSQL (truth) and Redis (the gate's view); pure.

For each seat the wanted Redis state follows from PostgreSQL: SOLD when in a live
booking, pointing at the live hold that covers it, else absent (AVAILABLE). Every repair
is a compare-and-set on the state the reconciler saw, so concurrent traffic always wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ticketmaster.domain.holds import BlockingHold
from ticketmaster.domain.seats import SOLD, SeatState


@dataclass(frozen=True, slots=True)
class EventTruth:
    """What PostgreSQL says about one event's seats."""

    event_id: str
    sold: frozenset[str]
    live_holds: dict[str, BlockingHold]
    overdue_active: tuple[str, ...]  # ACTIVE holds already past expires_at


@dataclass(frozen=True, slots=True)
class SeatFix:
    kind: str  # sold_missing | sold_unbacked | orphan_hold
    seat_id: str
    expected: str  # raw Redis state seen ("" = absent)
    new: str  # raw Redis state wanted ("" = absent)
    detail: str = ""


@dataclass
class Plan:
    seat_fixes: list[SeatFix] = field(default_factory=list)
    recreate: set[str] = field(default_factory=set)  # PG live holds missing from Redis
    suspects: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # hold -> [(seat, raw)]
    conflicts: list[str] = field(default_factory=list)


def holder(raw: str | None) -> str | None:
    """Hold id of a raw seat state, None for absent or SOLD."""
    return SeatState.parse(raw).hold_id


def plan(
    sold: frozenset[str],
    live_holds: Mapping[str, BlockingHold],
    redis_states: Mapping[str, str],
    known_hold_ids: frozenset[str],
) -> Plan:
    """``known_hold_ids``: holds that exist in PostgreSQL in any status; a Redis hold not
    among them may be a write still in flight, so it is only a suspect, never fixed here."""
    wanted_hold: dict[str, str] = {}
    result = Plan()
    for hold in live_holds.values():
        for seat in hold.seat_ids:
            other = wanted_hold.get(seat)
            if other is not None and seat not in sold:
                result.conflicts.append(f"seat {seat} is covered by two live holds: {other}, {hold.id}")
            wanted_hold[seat] = hold.id
    for seat in sorted(set(redis_states) | sold | set(wanted_hold)):
        raw = redis_states.get(seat, "")
        if seat in sold:
            if not SeatState.parse(raw).sold:
                result.seat_fixes.append(
                    SeatFix("sold_missing", seat, raw, SOLD.format(), "booked in PostgreSQL")
                )
            continue
        if SeatState.parse(raw).sold:
            result.seat_fixes.append(SeatFix("sold_unbacked", seat, raw, "", "no live booking"))
            raw = ""
        current = holder(raw)
        wanted = wanted_hold.get(seat)
        if current is not None and current != wanted:
            if current in known_hold_ids:
                result.seat_fixes.append(SeatFix("orphan_hold", seat, raw, "", f"hold {current} is not live"))
            else:
                result.suspects.setdefault(current, []).append((seat, raw))
                continue
            current = None
        if wanted is not None and current != wanted:
            result.recreate.add(wanted)
    return result
