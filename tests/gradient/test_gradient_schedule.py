"""The monthly schedule with an injected clock: month and year ends, time zones, DST, catch-up exactly once."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seatsync.domain.periods import BillingPeriod
from seatsync.domain.schedule import due_periods, next_run, push_instant
from seatsync.errors import InvalidTimeZone

P = BillingPeriod
CHICAGO = ZoneInfo("America/Chicago")


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone)).astimezone(UTC)  # type: ignore[misc]


def test_the_previous_month_is_due_from_the_1st_at_local_midnight() -> None:
    last = P(2026, 9)
    just_before = local("America/Chicago", 2026, 10, 31, 23, 59, 59)
    at_midnight = local("America/Chicago", 2026, 11, 1, 0, 0)
    assert due_periods(just_before, CHICAGO, last) == []
    assert due_periods(at_midnight, CHICAGO, last) == [P(2026, 10)]
    assert due_periods(at_midnight, CHICAGO, P(2026, 10)) == []  # pushed: never again


def test_the_tenant_zone_decides_not_utc() -> None:
    # 2026-11-01 03:00 UTC is still October 31 in Chicago but already November 1 in Tokyo and London
    instant = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
    assert due_periods(instant, "America/Chicago", P(2026, 9)) == []
    assert due_periods(instant, "Asia/Tokyo", P(2026, 9)) == [P(2026, 10)]
    assert due_periods(instant, "Europe/London", P(2026, 9)) == [P(2026, 10)]
    # and a zone ahead of UTC sees its 1st before UTC does
    assert due_periods(datetime(2026, 10, 31, 15, 0, tzinfo=UTC), "Asia/Tokyo", P(2026, 9)) == [P(2026, 10)]


def test_year_end_pushes_december_in_january() -> None:
    now = local("Pacific/Auckland", 2027, 1, 1, 0, 0)
    assert due_periods(now, "Pacific/Auckland", P(2026, 11)) == [P(2026, 12)]
    assert next_run(now, "Pacific/Auckland") == local("Pacific/Auckland", 2027, 2, 1, 0, 0)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ((2026, 1, 31, 12), (2026, 2, 1)),  # 31-day month
        ((2026, 2, 28, 23), (2026, 3, 1)),  # February, common year
        ((2028, 2, 29, 23), (2028, 3, 1)),  # leap day
        ((2026, 4, 30, 23), (2026, 5, 1)),  # 30-day month
        ((2026, 12, 31, 23), (2027, 1, 1)),  # year end
        ((2026, 3, 1, 0), (2026, 4, 1)),  # at the run instant itself: the next one
    ],
)
def test_next_run_is_the_coming_1st_at_local_midnight(now: tuple[int, ...], expected: tuple[int, ...]) -> None:
    assert next_run(local("America/Chicago", *now), CHICAGO) == local("America/Chicago", *expected, 0, 0)


def test_dst_zones_keep_local_midnight() -> None:
    # Chicago is UTC-5 in summer and UTC-6 in winter: the 1st's midnight moves in UTC, not in local time
    assert next_run(datetime(2026, 10, 15, tzinfo=UTC), CHICAGO) == datetime(2026, 11, 1, 5, 0, tzinfo=UTC)
    assert next_run(datetime(2026, 11, 15, tzinfo=UTC), CHICAGO) == datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    # a month containing the DST change (Europe/Berlin, March 29 2026) is still due at local midnight
    berlin = "Europe/Berlin"
    assert push_instant(P(2026, 3), berlin) == datetime(2026, 3, 31, 22, 0, tzinfo=UTC)
    assert due_periods(datetime(2026, 3, 31, 21, 59, tzinfo=UTC), berlin, P(2026, 2)) == []
    assert due_periods(datetime(2026, 3, 31, 22, 0, tzinfo=UTC), berlin, P(2026, 2)) == [P(2026, 3)]


def test_a_skipped_local_midnight_runs_at_the_first_instant_that_exists() -> None:
    # Paraguay moved its clocks from 00:00 to 01:00 on 2023-10-01: that midnight never happened
    zone = "America/Asuncion"
    run = next_run(datetime(2023, 9, 20, tzinfo=UTC), zone)
    assert run == datetime(2023, 10, 1, 4, 0, tzinfo=UTC)
    assert run.astimezone(ZoneInfo(zone)).hour == 1  # 01:00 local, the first instant of October 1
    assert due_periods(run - timedelta(seconds=1), zone, P(2023, 8)) == []
    assert due_periods(run, zone, P(2023, 8)) == [P(2023, 9)]


def test_a_missed_1st_is_caught_up_exactly_once() -> None:
    # seatsync was down over 2026-11-01 and starts again on the 3rd
    restart = local("America/Chicago", 2026, 11, 3, 9, 30)
    due = due_periods(restart, CHICAGO, P(2026, 9))
    assert due == [P(2026, 10)]
    # once pushed, later starts and ticks in the month find nothing
    for hours in (0, 1, 24, 24 * 20):
        assert due_periods(restart + timedelta(hours=hours), CHICAGO, due[-1]) == []


def test_several_missed_months_are_each_pushed_once_oldest_first() -> None:
    restart = local("America/Chicago", 2027, 2, 10, 8, 0)
    due = due_periods(restart, CHICAGO, P(2026, 10))
    assert due == [P(2026, 11), P(2026, 12), P(2027, 1)]
    # a restart after pushing only the first catches up the rest, each once
    assert due_periods(restart, CHICAGO, P(2026, 11)) == [P(2026, 12), P(2027, 1)]
    assert due_periods(restart, CHICAGO, P(2027, 1)) == []


def test_first_run_after_connecting_waits_for_the_next_1st() -> None:
    connected = local("America/Chicago", 2026, 10, 14, 16, 0)
    assert due_periods(connected + timedelta(minutes=5), CHICAGO, None, since=connected) == []
    assert due_periods(local("America/Chicago", 2026, 10, 31, 23, 59), CHICAGO, None, since=connected) == []
    first_1st = local("America/Chicago", 2026, 11, 1, 0, 0)
    assert due_periods(first_1st, CHICAGO, None, since=connected) == [P(2026, 10)]
    # down over the first two 1sts: both periods once
    assert due_periods(local("America/Chicago", 2026, 12, 5), CHICAGO, None, since=connected) == [
        P(2026, 10),
        P(2026, 11),
    ]
    # connected exactly at a 1st's midnight: that 1st's push (the previous month) is due
    at_1st = local("America/Chicago", 2026, 11, 1, 0, 0)
    assert due_periods(at_1st, CHICAGO, None, since=at_1st) == [P(2026, 10)]


def test_with_no_history_at_all_only_the_latest_ended_month_is_due() -> None:
    assert due_periods(local("America/Chicago", 2026, 11, 20, 12), CHICAGO, None) == [P(2026, 10)]


def test_a_pushed_period_in_the_future_means_nothing_is_due() -> None:
    assert due_periods(local("America/Chicago", 2026, 11, 2), CHICAGO, P(2026, 11)) == []


def test_naive_instants_and_unknown_zones_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due_periods(datetime(2026, 11, 1), CHICAGO, None)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_run(datetime(2026, 11, 1), CHICAGO)
    with pytest.raises(InvalidTimeZone):
        next_run(datetime(2026, 11, 1, tzinfo=UTC), "Mars/Olympus")


ZONES = [
    "UTC",
    "America/Chicago",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Pacific/Auckland",
    "America/Asuncion",
    "Australia/Lord_Howe",
]


@given(
    start=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
    zone=st.sampled_from(ZONES),
    steps=st.lists(st.integers(min_value=1, max_value=60 * 24 * 45), min_size=1, max_size=30),
)
def test_a_scheduler_ticking_at_random_pushes_every_month_exactly_once(
    start: datetime, zone: str, steps: list[int]
) -> None:
    """Whatever the gaps between ticks (minutes to weeks), every ended month is pushed once, in order."""
    tz = ZoneInfo(zone)
    pushed: list[BillingPeriod] = []
    now = start
    for minutes in steps:
        now += timedelta(minutes=minutes)
        for period in due_periods(now, tz, pushed[-1] if pushed else None, since=start):
            assert push_instant(period, tz) <= now  # never before its 1st
            pushed.append(period)
    assert pushed == sorted(set(pushed))  # each once, oldest first
    if pushed:
        assert push_instant(pushed[0], tz) >= start
        assert all(b == a.next() for a, b in itertools.pairwise(pushed))  # no gaps
        assert pushed[-1] == BillingPeriod.containing(now, tz).previous()  # nothing left behind
    else:
        assert next_run(start, tz) > now
