"""How a sandbox process is tuned: latency range, hang length, settle time, optional ledger journal."""

from __future__ import annotations

import os
from collections.abc import Mapping

LATENCY_ENV = "TICKETMASTER_SANDBOX_LATENCY_MS"
DEFAULT_LATENCY_MS = (100, 1000)
DEFAULT_HANG_SECONDS = 30.0
DEFAULT_SETTLE_SECONDS = 1.0
DEFAULT_PORT = 8099


def parse_latency(raw: str) -> tuple[int, int]:
    """``"MIN:MAX"`` (or a single ``"N"``) milliseconds → ``(min, max)``; ValueError if malformed."""
    low_raw, sep, high_raw = raw.strip().partition(":")
    try:
        low = int(low_raw)
        high = int(high_raw) if sep else low
    except ValueError:
        raise ValueError(f"latency must be MIN:MAX milliseconds, got {raw!r}") from None
    if not 0 <= low <= high:
        raise ValueError(f"latency must satisfy 0 <= MIN <= MAX, got {raw!r}")
    return low, high


def latency_from_env(env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """The latency range from ``TICKETMASTER_SANDBOX_LATENCY_MS``, or the default 100:1000."""
    raw = (os.environ if env is None else env).get(LATENCY_ENV, "")
    if not raw.strip():
        return DEFAULT_LATENCY_MS
    try:
        return parse_latency(raw)
    except ValueError as exc:
        raise ValueError(f"{LATENCY_ENV}: {exc}") from None
