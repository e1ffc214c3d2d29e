"""Opaque, prefixed, URL-safe identifiers (``usr_…``, ``hold_…``)."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(12)}"
