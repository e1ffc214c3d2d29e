"""Opaque, prefixed, URL-safe identifiers (``usr_…``, ``hold_…``)."""

from __future__ import annotations

import base64
import os

_ID_BYTES = 12
_REFILL = 4096  # bytes of OS randomness per refill: one system call per ~340 ids
_pool = bytearray()


def _forget_pool() -> None:
    _pool.clear()  # a forked child must not hand out its parent's next ids


os.register_at_fork(after_in_child=_forget_pool)


def new_id(prefix: str) -> str:
    """``<prefix>_`` and 96 random bits from the OS generator, unguessable like
    ``secrets.token_urlsafe(12)`` but drawn from a buffer: a system call per id showed on
    the hold path's profile."""
    if len(_pool) < _ID_BYTES:
        _pool.extend(os.urandom(_REFILL))
    raw = bytes(_pool[-_ID_BYTES:])
    del _pool[-_ID_BYTES:]
    return f"{prefix}_{base64.urlsafe_b64encode(raw).decode()}"
