from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from seatsync.domain.periods import BillingPeriod, time_zone
from seatsync.errors import InvalidPeriod, InvalidTimeZone


def test_parse_and_format() -> None:
    assert BillingPeriod.parse("2026-10") == BillingPeriod(2026, 10)
    assert str(BillingPeriod(2026, 1)) == "2026-01"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("2026-13", "between 01 and 12"),
        ("2026-00", "between 01 and 12"),
        ("2026-1", "YYYY-MM"),
        ("Oct 2026", "YYYY-MM"),
        ("", "YYYY-MM"),
    ],
)
def test_parse_refuses_with_reason(text: str, needle: str) -> None:
    with pytest.raises(InvalidPeriod, match=needle):
        BillingPeriod.parse(text)


def test_utc_bounds_are_half_open_months() -> None:
    start, end = BillingPeriod(2026, 12).bounds(UTC)
    assert start == datetime(2026, 12, 1, tzinfo=UTC)
    assert end == datetime(2027, 1, 1, tzinfo=UTC)
    assert BillingPeriod(2026, 12).next() == BillingPeriod(2027, 1)
    assert BillingPeriod(2027, 1).previous() == BillingPeriod(2026, 12)


def test_dst_months_in_new_york() -> None:
    ny = ZoneInfo("America/New_York")
    # March 2026 loses an hour (DST starts March 8): EST start, EDT end
    start, end = BillingPeriod(2026, 3).bounds(ny)
    assert start == datetime(2026, 3, 1, 5, tzinfo=UTC)
    assert end == datetime(2026, 4, 1, 4, tzinfo=UTC)
    assert (end - start).total_seconds() == 31 * 86400 - 3600
    # November 2026 gains an hour back
    start, end = BillingPeriod(2026, 11).bounds(ny)
    assert (end - start).total_seconds() == 30 * 86400 + 3600


def test_leap_february() -> None:
    start, end = BillingPeriod(2028, 2).bounds(UTC)
    assert (end - start).days == 29
    assert BillingPeriod.containing(datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC), UTC) == BillingPeriod(2028, 2)


def test_containing_uses_the_zone() -> None:
    instant = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)  # still October 31st in Chicago
    assert BillingPeriod.containing(instant, ZoneInfo("America/Chicago")) == BillingPeriod(2026, 10)


def test_unknown_zone() -> None:
    with pytest.raises(InvalidTimeZone, match="Mars/Olympus"):
        time_zone("Mars/Olympus")
