"""The one way times leave the service: RFC 3339 in UTC with a ``Z`` (API.md)."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(moment: datetime, *, millis: bool = False) -> str:
    """``2026-05-10T20:00:00Z``; with ``millis`` always three decimals (``…00.000Z``), as
    hold and purchase times carry them; without, decimals only when the time has them."""
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds" if millis else "auto")
    return text.replace("+00:00", "Z")


def rfc3339_ms(epoch_ms: int) -> str:
    """A time given in milliseconds since the epoch (as Redis scripts keep them)."""
    return rfc3339(datetime.fromtimestamp(epoch_ms / 1000, UTC), millis=True)
