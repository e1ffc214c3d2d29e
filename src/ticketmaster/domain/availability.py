"""The availability index of an event: its seat states by row, in rank order, with a
summary per row that lets the gate find the best choice without reading every seat.

Per row (``RankedRow``), one value per seat mirrors the seat's state in the gate: 0
AVAILABLE, -1 SOLD, else the expiry (ms) of the hold on it; a hold past its expiry leaves
the seat available, so the values never need a sweeper. The row's summary at an instant
``now``: for each count 1..8, whether the row has a choice of that many adjacent available
seats and whether one of them strands no seat (``best_available``), and the earliest expiry
still ahead (``due``), when the summary must be worked out again. The gate keeps the
summary as of the last change of the row (or of the last search after ``due``); ``problems``
checks a stored index against the seat states, for reconcile and audit. Beside each row
the gate keeps a copy of the summary it stored (``summary_copy``), so a seat change writes
only what differs from it; the check holds the copy to the summary too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ticketmaster.domain.holds import MAX_SEATS_PER_HOLD
from ticketmaster.domain.layout import RankedRow
from ticketmaster.domain.seats import SeatState

SOLD_VALUE = -1


def seat_value(state: SeatState) -> int:
    """The index value of a seat state (see the module docstring)."""
    if state.sold:
        return SOLD_VALUE
    return state.expires_at_ms if state.hold_id is not None else 0


def free_at(value: int, now_ms: int) -> bool:
    return value == 0 or 0 < value <= now_ms


@dataclass(frozen=True, slots=True)
class RowSummary:
    fits: dict[int, bool] = field(default_factory=dict)
    """count -> True when some choice of that many adjacent seats strands no seat, False
    when every choice strands one; counts with no choice at all are absent."""
    due: int | None = None
    """The earliest hold expiry after the instant summarized."""


def summarize(values: Sequence[int], now_ms: int) -> RowSummary:
    runs: list[int] = []
    run = 0
    for value in values:
        if free_at(value, now_ms):
            run += 1
        elif run:
            runs.append(run)
            run = 0
    if run:
        runs.append(run)
    longest = max(runs, default=0)
    fits = {
        count: any(length == count or length >= count + 2 for length in runs)
        for count in range(1, min(longest, MAX_SEATS_PER_HOLD) + 1)
    }
    ahead = [v for v in values if v > now_ms]
    return RowSummary(fits, min(ahead) if ahead else None)


def summary_copy(fits: dict[int, bool], due: int | None) -> str:
    """The gate's copy of a row's summary: per count 1..8 "c" (fits without stranding),
    "s" (every choice strands a seat) or "-" (no choice), then "|" and the due time."""
    marks = "".join(
        ("c" if fits[count] else "s") if count in fits else "-" for count in range(1, MAX_SEATS_PER_HOLD + 1)
    )
    return f"{marks}|{'' if due is None else due}"


@dataclass(frozen=True, slots=True)
class RowProblem:
    """What is wrong with one row of a stored index; ``seats`` those whose values differ
    from their states (none when the row's summary or its naming is wrong)."""

    detail: str
    seats: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.detail


@dataclass(frozen=True, slots=True)
class StoredRow:
    """One row of the index as the gate stores it."""

    prefix: str
    values: tuple[int, ...]
    fits: dict[int, bool]
    due: int | None
    copy: str | None = None
    """The row's summary copy (``summary_copy``); None when the gate kept none."""


def problems(
    rows: Sequence[RankedRow],
    states: Mapping[str, str],
    stored: Mapping[int, StoredRow],
    index_of: Mapping[str, int],
    now_ms: int,
) -> dict[int, RowProblem]:
    """Row index -> what is wrong with it, for every row whose stored index disagrees with
    the seat states (raw, as ``SeatSnapshot.states``), the layout, or its own summary.
    ``index_of`` maps each stored seat-id prefix to its row. A summary is checked as of
    ``now_ms``, or just before its ``due`` when that has passed (the gate works it out
    again at the next search)."""
    found: dict[int, RowProblem] = {}
    for row in rows:
        got = stored.get(row.index)
        if got is None:
            found[row.index] = RowProblem("is missing")
            continue
        if got.prefix != row.seat_prefix:
            found[row.index] = RowProblem(f"names seats {got.prefix!r}, expected {row.seat_prefix!r}")
            continue
        if index_of.get(row.seat_prefix) != row.index:
            found[row.index] = RowProblem(
                f"seats {row.seat_prefix!r} point at row {index_of.get(row.seat_prefix)}"
            )
            continue
        wanted = tuple(seat_value(SeatState.parse(states.get(row.seat(n)))) for n in range(1, row.seats + 1))
        if got.values != wanted:
            differ = [
                row.seat(n) for n in range(1, row.seats + 1) if got.values[n - 1 : n] != wanted[n - 1 : n]
            ]
            found[row.index] = RowProblem(
                f"differs from the seat states at {', '.join(differ[:5])}", tuple(differ)
            )
            continue
        at = now_ms if got.due is None or got.due > now_ms else got.due - 1
        summary = summarize(got.values, at)
        if (got.fits, got.due) != (summary.fits, summary.due):
            found[row.index] = RowProblem(
                f"summary {got.fits}/{got.due}, expected {summary.fits}/{summary.due}"
            )
        elif got.copy is not None and got.copy != summary_copy(got.fits, got.due):
            found[row.index] = RowProblem(
                f"summary copy {got.copy!r}, expected {summary_copy(got.fits, got.due)!r}"
            )
    extra = sorted(set(stored) - {r.index for r in rows})
    for index in extra:
        found[index] = RowProblem("is not a row of the venue")
    return found
