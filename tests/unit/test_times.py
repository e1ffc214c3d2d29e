"""RFC 3339 output: UTC, a Z, and the precision each field of API.md carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from ticketmaster.domain.times import rfc3339, rfc3339_ms


def test_whole_seconds_print_without_decimals_unless_millis_are_asked_for() -> None:
    moment = datetime(2026, 5, 10, 20, 0, tzinfo=UTC)
    assert rfc3339(moment) == "2026-05-10T20:00:00Z"
    assert rfc3339(moment, millis=True) == "2026-05-10T20:00:00.000Z"


def test_another_offset_is_turned_into_utc() -> None:
    lisbon_summer = timezone(timedelta(hours=1))
    assert rfc3339(datetime(2027, 5, 11, 21, 30, tzinfo=lisbon_summer)) == "2027-05-11T20:30:00Z"


def test_fractions_are_kept_or_cut_to_milliseconds() -> None:
    moment = datetime(2026, 5, 10, 20, 0, 1, 234567, tzinfo=UTC)
    assert rfc3339(moment) == "2026-05-10T20:00:01.234567Z"
    assert rfc3339(moment, millis=True) == "2026-05-10T20:00:01.234Z"


def test_epoch_milliseconds() -> None:
    assert rfc3339_ms(1_778_443_200_123) == "2026-05-10T20:00:00.123Z"
    assert rfc3339_ms(0) == "1970-01-01T00:00:00.000Z"
