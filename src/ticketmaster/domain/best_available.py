"""Best available: the gate picks the seats (API.md "Best available"); the rule, pure.

Rank of a seat: its section's place in the venue's import order (first is best), then its
row's place in the section, then its distance from the row's middle, ``(n + 1) / 2`` for a
row of ``n`` seats. A block of consecutive seats ranks by its section, row and the
distance of its centre from the middle. Ties, which only a distance can produce (seats or
blocks mirrored about the middle), go to the lower seat number: the choice is a function
of the seat states alone.

With ``adjacent`` a choice is ``count`` consecutive available seats of one row. A choice
strands a seat when it leaves exactly one available seat between itself and a taken
seat or the row's end. The best-ranked choice that strands no seat wins; only when every
fitting choice strands one, the best-ranked of those. Without ``adjacent``, the ``count``
best-ranked available seats, one by one. Nothing fits (filters included): no choice.

``choose`` is the reference implementation: it enumerates every choice. The gate's script
(``hold_best.lua``) finds the same one from an availability index without looking at
every seat; tests hold the two to each other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ticketmaster.domain.errors import InvalidRequest
from ticketmaster.domain.holds import MAX_SEATS_PER_HOLD
from ticketmaster.domain.layout import EventInfo, RankedRow, VenueLayout


@dataclass(frozen=True, slots=True)
class BestAvailable:
    """A best-available request with its defaults applied: filters sorted and distinct,
    empty meaning "any"."""

    count: int
    price_tier_ids: tuple[str, ...] = ()
    section_ids: tuple[str, ...] = ()
    adjacent: bool = True

    def fingerprint(self, event_id: str) -> str:
        """Identifies "the same request body" for idempotency (never equal to a seat list's)."""
        canonical = "\n".join(
            [
                event_id,
                "best",
                str(self.count),
                "adjacent" if self.adjacent else "any",
                ",".join(self.price_tier_ids),
                ",".join(self.section_ids),
            ]
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _id_list(raw: dict[str, Any], name: str) -> tuple[str, ...]:
    value = raw.get(name)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRequest(f"best.{name} must be a list of ids (strings)", field=f"best.{name}")
    return tuple(sorted(set(value)))


def parse_best(raw: object) -> BestAvailable:
    """The ``best`` object of a hold request (raises InvalidRequest). Omitted, null or
    empty filter lists mean no filter; ``adjacent`` defaults to true."""
    if not isinstance(raw, dict):
        raise InvalidRequest("best must be an object", field="best")
    count = raw.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_SEATS_PER_HOLD:
        raise InvalidRequest(
            f"best.count must be an integer from 1 to {MAX_SEATS_PER_HOLD}", field="best.count"
        )
    adjacent = raw.get("adjacent", True)
    if adjacent is None:
        adjacent = True
    if not isinstance(adjacent, bool):
        raise InvalidRequest("best.adjacent must be true or false", field="best.adjacent")
    return BestAvailable(count, _id_list(raw, "priceTierIds"), _id_list(raw, "sectionIds"), adjacent)


def allowed_sections(best: BestAvailable, info: EventInfo, layout: VenueLayout) -> frozenset[str]:
    """The sections both filters allow (raises InvalidRequest for an id the event lacks)."""
    sections = [s.id for s in layout.sections]
    unknown_sections = sorted(set(best.section_ids) - set(sections))
    if unknown_sections:
        raise InvalidRequest(
            "unknown section ids for this event", field="best.sectionIds", sectionIds=unknown_sections
        )
    unknown_tiers = sorted(set(best.price_tier_ids) - set(info.tiers))
    if unknown_tiers:
        raise InvalidRequest(
            "unknown price tier ids for this event", field="best.priceTierIds", priceTierIds=unknown_tiers
        )
    if not best.section_ids and not best.price_tier_ids:
        return frozenset(sections)
    allowed = set(best.section_ids or sections)
    if best.price_tier_ids:
        tiers = set(best.price_tier_ids)
        allowed = {s for s in allowed if info.section_tiers.get(s) in tiers}
    return frozenset(allowed)


# --- the rows in rank order (VenueLayout.ranked_rows) ----------------------------------------


def row_ranges(layout: VenueLayout, sections: Iterable[str]) -> tuple[tuple[int, int], ...]:
    """The rows of these sections as runs of consecutive indexes (first, last) in rank
    order (a section's rows are consecutive: one step per section, not per row)."""
    wanted = set(sections) & layout.section_rows.keys()
    if len(wanted) == len(layout.section_rows):
        return ((0, len(layout.ranked_rows) - 1),) if wanted else ()
    spans = sorted(layout.section_rows[s] for s in wanted)
    ranges: list[tuple[int, int]] = []
    for first, last in spans:
        if ranges and ranges[-1][1] == first - 1:
            ranges[-1] = (ranges[-1][0], last)
        else:
            ranges.append((first, last))
    return tuple(ranges)


@dataclass(frozen=True, slots=True)
class SeatSearch:
    """What the gate's script is asked: ``count`` seats, adjacent or not, among the rows
    of ``ranges`` (see ``row_ranges``)."""

    count: int
    adjacent: bool
    ranges: tuple[tuple[int, int], ...]


# --- the reference rule ---------------------------------------------------------------------


def block_distance(start: int, count: int, seats: int) -> int:
    """Twice the distance of the centre of seats ``start..start+count-1`` from the middle of
    a row of ``seats`` (doubled, so it stays an integer)."""
    return abs(2 * start + count - 1 - (seats + 1))


def strands(free: Sequence[bool], start: int, count: int) -> bool:
    """Whether taking seats ``start..start+count-1`` (1-based) leaves a single available
    seat between the block and a taken seat or the row's end."""

    def is_free(number: int) -> bool:
        return 1 <= number <= len(free) and free[number - 1]

    end = start + count - 1
    left = is_free(start - 1) and not is_free(start - 2)
    right = is_free(end + 1) and not is_free(end + 2)
    return left or right


def choose(
    rows: Sequence[RankedRow], free: dict[int, Sequence[bool]], search: SeatSearch
) -> tuple[str, ...] | None:
    """The best choice (seat ids, best first) among the rows ``search`` allows, given which
    seats are available (``free[row.index][n - 1]`` for seat ``n``); None when nothing
    fits."""
    allowed = [r for r in rows if any(lo <= r.index <= hi for lo, hi in search.ranges)]
    count = search.count
    if not search.adjacent:
        ranked = sorted(
            (row.index, block_distance(n, 1, row.seats), n, row)
            for row in allowed
            for n in range(1, row.seats + 1)
            if free[row.index][n - 1]
        )
        if len(ranked) < count:
            return None
        return tuple(row.seat(n) for _, _, n, row in ranked[:count])
    choices = [
        (
            strands(free[row.index], start, count),
            row.index,
            block_distance(start, count, row.seats),
            start,
            row,
        )
        for row in allowed
        for start in range(1, row.seats - count + 2)
        if all(free[row.index][start - 1 : start - 1 + count])
    ]
    if not choices:
        return None
    *_, start, row = min(choices, key=lambda c: c[:4])
    return tuple(row.seat(n) for n in range(start, start + count))
