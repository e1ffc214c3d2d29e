"""Keyset cursors: what the server issues it reads back; anything else is refused."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from ticketmaster.domain import cursor
from ticketmaster.domain.errors import InvalidRequest


@pytest.mark.parametrize(
    ("when", "event_id"),
    [
        (datetime(2027, 5, 10, 20, 0, tzinfo=UTC), "evt_1"),
        (datetime(2027, 5, 10, 20, 0, 0, 123456, tzinfo=UTC), "evt_with.punct:-"),
        (datetime(2027, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=-5))), "é-ünïcode"),
    ],
)
def test_a_cursor_round_trips(when: datetime, event_id: str) -> None:
    token = cursor.encode(when, event_id)

    assert cursor.decode(token) == (when, event_id)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "!!!",
        "a",
        "not a cursor",
        "é",
        _b64(b"not json"),
        _b64(b"\xff\xfe"),
        _b64(orjson.dumps(42)),
        _b64(orjson.dumps(["2027-05-10T20:00:00+00:00"])),
        _b64(orjson.dumps(["2027-05-10T20:00:00+00:00", "evt_1", "extra"])),
        _b64(orjson.dumps(["yesterday", "evt_1"])),
        _b64(orjson.dumps(["2027-05-10T20:00:00", "evt_1"])),  # no time zone
        _b64(orjson.dumps(["2027-05-10T20:00:00+00:00", 7])),
        _b64(orjson.dumps([1778443200, "evt_1"])),
        _b64(orjson.dumps(None)),
        _b64(orjson.dumps(["2027-05-10T20:00:00+00:00", "a\u0000b"])),  # PostgreSQL refuses NUL
        _b64(orjson.dumps(["2027-05-10T20:00:00+00:00", "a\nb"])),
        _b64(orjson.dumps(["0001-01-01T00:00:00+23:59", "evt_1"])),  # before year 1 in UTC
        _b64(orjson.dumps(["9999-12-31T23:59:59-23:59", "evt_1"])),  # after year 9999 in UTC
        "A" * 5000,
    ],
)
def test_garbage_is_an_invalid_request_naming_the_cursor(garbage: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        cursor.decode(garbage)
    assert caught.value.extra == {"field": "cursor"}
