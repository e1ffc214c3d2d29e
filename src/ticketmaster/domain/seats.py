"""Seat identity, status, and a seat's state in the gate."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SeatStatus(StrEnum):
    AVAILABLE = "AVAILABLE"
    HELD = "HELD"
    SOLD = "SOLD"


def seat_id(section_id: str, row_id: str, number: int) -> str:
    """Seat ids are ``<sectionId>-<rowId>-<number>`` (API.md, import file)."""
    return f"{section_id}-{row_id}-{number}"


_SOLD = "SOLD"


@dataclass(frozen=True, slots=True)
class SeatState:
    """One seat's state as the gate stores it: ``""`` (or absent) AVAILABLE, ``"SOLD"``, or
    ``"<holdId>|<expiresAtMs>"``, held until that instant. The one parser and formatter of
    that raw form; the Lua scripts write the same form."""

    hold_id: str | None = None
    expires_at_ms: int = 0
    sold: bool = False

    @classmethod
    def parse(cls, raw: str | bytes | None) -> SeatState:
        if isinstance(raw, bytes):
            raw = raw.decode()
        if not raw:
            return AVAILABLE
        if raw == _SOLD:
            return SOLD
        hold_id, _, exp = raw.rpartition("|")
        return cls(hold_id=hold_id, expires_at_ms=int(exp) if exp.isdigit() else 0)

    @classmethod
    def held(cls, hold_id: str, expires_at_ms: int) -> SeatState:
        return cls(hold_id=hold_id, expires_at_ms=expires_at_ms)

    def format(self) -> str:
        if self.sold:
            return _SOLD
        if self.hold_id is None:
            return ""
        return f"{self.hold_id}|{self.expires_at_ms}"

    def blocks_at(self, now_ms: int) -> bool:
        """Whether the seat is taken at ``now_ms``: sold, or held by a hold not yet lapsed."""
        return self.sold or (self.hold_id is not None and self.expires_at_ms > now_ms)

    def live_hold_expiry(self, now_ms: int) -> int:
        """The expiry of the hold on this seat if it is still live at ``now_ms``, else 0."""
        return self.expires_at_ms if self.hold_id is not None and self.expires_at_ms > now_ms else 0

    def status_at(self, now_ms: int) -> SeatStatus:
        if self.sold:
            return SeatStatus.SOLD
        return SeatStatus.HELD if self.blocks_at(now_ms) else SeatStatus.AVAILABLE

    @property
    def logged_status(self) -> SeatStatus:
        """The status a change-log entry stands for (a hold was live when it was logged)."""
        if self.sold:
            return SeatStatus.SOLD
        return SeatStatus.AVAILABLE if self.hold_id is None else SeatStatus.HELD


AVAILABLE = SeatState()
SOLD = SeatState(sold=True)
