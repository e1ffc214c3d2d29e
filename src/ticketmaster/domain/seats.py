"""Seat identity and status."""

from __future__ import annotations

from enum import StrEnum


class SeatStatus(StrEnum):
    AVAILABLE = "AVAILABLE"
    HELD = "HELD"
    SOLD = "SOLD"


def seat_id(section_id: str, row_id: str, number: int) -> str:
    """Seat ids are ``<sectionId>-<rowId>-<number>`` (API.md, import file)."""
    return f"{section_id}-{row_id}-{number}"
