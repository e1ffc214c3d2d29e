"""Seat choice from a seat map, as a buyer looking at the map would make it: a section chosen
with a preference for the front (the venue's first sections), then ``count`` adjacent
available seats in one of its rows, or single seats when no row has such a run."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SeatView:
    """The available seats of a map: per section (in the venue's order), row -> seat numbers."""

    sections: list[tuple[str, dict[str, list[int]]]] = field(default_factory=list)
    available: int = 0
    held: int = 0
    sold: int = 0

    @classmethod
    def of(cls, seat_map: dict[str, Any]) -> SeatView:
        view = cls()
        for section in seat_map["sections"]:
            rows: dict[str, list[int]] = {}
            for seat in section["seats"]:
                status = seat["status"]
                if status == "AVAILABLE":
                    rows.setdefault(seat["row"], []).append(int(seat["number"]))
                    view.available += 1
                elif status == "HELD":
                    view.held += 1
                else:
                    view.sold += 1
            for numbers in rows.values():
                numbers.sort()
            view.sections.append((section["id"], rows))
        return view

    def copy(self) -> SeatView:
        rows = [(sid, {row: nums[:] for row, nums in r.items()}) for sid, r in self.sections]
        return SeatView(rows, self.available, self.held, self.sold)

    def remove(self, seat_ids: list[str]) -> None:
        """Forget seats (just asked for, or refused as taken)."""
        for seat_id in seat_ids:
            section_id, row, number = seat_id.rsplit("-", 2)
            for sid, rows in self.sections:
                if sid == section_id and row in rows and int(number) in rows[row]:
                    rows[row].remove(int(number))
                    self.available -= 1

    def pick(self, count: int, rng: random.Random, front_bias: float) -> list[str]:
        """``count`` seats (adjacent when a row allows), [] when fewer are left."""
        if self.available < count:
            return []
        n = len(self.sections)
        # Section i is chosen with weight exp(-k i / n): front_bias 0 is uniform, 1 makes the
        # first section ~150 times likelier than the last.
        k = 5.0 * front_bias
        order = sorted(
            range(n), key=lambda i: -math.log(rng.random() or 1e-12) / math.exp(-k * i / max(n, 1))
        )
        for i in order:
            section_id, rows = self.sections[i]
            runs = [
                (row, nums[j])
                for row, nums in rows.items()
                for j in range(len(nums) - count + 1)
                if nums[j + count - 1] - nums[j] == count - 1
            ]
            if runs:
                row, start = rng.choice(runs)
                return [f"{section_id}-{row}-{start + d}" for d in range(count)]
        singles = [
            f"{sid}-{row}-{num}" for sid, rows in self.sections for row, nums in rows.items() for num in nums
        ]
        return rng.sample(singles, count) if len(singles) >= count else []
