"""What every gate of the benchmark answers: one hold attempt, all seats or none."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Held:
    hold_id: str
    user: str
    seat_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One hold attempt's answer: ``held`` is None for a conflict."""

    held: Held | None
    retries: int = 0
    gave_up: bool = False
    """Optimistic gate: the seats looked free but every retry lost a version race."""


class Gate(Protocol):
    name: str

    async def reset(self, event_id: str, seat_ids: Sequence[str]) -> None:
        """Start a fresh event whose seats are all AVAILABLE; later calls act on it."""

    async def try_hold(self, user: str, seat_ids: tuple[str, ...]) -> Attempt: ...

    async def release(self, hold: Held) -> None: ...

    async def server_cpu_seconds(self) -> float | None:
        """CPU seconds the database side has used so far (None when not measurable)."""


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(12)}"


class UnexpectedAnswer(Exception):
    """The gate answered something a bench attempt can never cause (a bug)."""
