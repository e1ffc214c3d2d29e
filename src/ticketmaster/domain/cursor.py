"""Opaque keyset cursors for event listings: the (datetime, id) of the last row served."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

import orjson

from ticketmaster.domain.errors import InvalidRequest


def encode(starts_at: datetime, event_id: str) -> str:
    raw = orjson.dumps([starts_at.isoformat(), event_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when, event_id = orjson.loads(raw)
        parsed = datetime.fromisoformat(when)
        if parsed.tzinfo is None or not isinstance(event_id, str) or not event_id.isprintable():
            raise ValueError
        parsed.astimezone(UTC)  # the database compares in UTC: it must be representable
    except (ValueError, TypeError, OverflowError, binascii.Error, orjson.JSONDecodeError):
        raise InvalidRequest("cursor is not one this server issued", field="cursor") from None
    return parsed, event_id
