"""Monthly schedules (pure): fire instants, the next fire, catch-up."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from seatsync.domain.monthly import GRADIENT_DEFAULT, MonthlySchedule
from seatsync.domain.periods import BillingPeriod
from seatsync.domain.schedule import due_periods, next_run
from seatsync.errors import UserInputError

CHICAGO = ZoneInfo("America/Chicago")
P = BillingPeriod


def test_fire_instants() -> None:
    last = MonthlySchedule.parse(day="last", at="18:30", period="current")
    assert last.fire(P(2026, 2), CHICAGO) == datetime(2026, 3, 1, 0, 30, tzinfo=UTC)  # Feb 28 18:30 CST
    assert last.fire(P(2028, 2), UTC) == datetime(2028, 2, 29, 18, 30, tzinfo=UTC)
    fifth = MonthlySchedule.parse(day=5, at="06:00", period="previous")
    assert fifth.fire(P(2026, 7), CHICAGO) == datetime(2026, 7, 5, 11, 0, tzinfo=UTC)  # CDT
    assert fifth.pushes(P(2026, 7)) == P(2026, 6)
    assert last.pushes(P(2026, 7)) == P(2026, 7)


def test_gradient_default_is_the_old_schedule() -> None:
    for now in (
        datetime(2026, 10, 15, tzinfo=UTC),
        datetime(2026, 11, 1, 5, 59, tzinfo=UTC),
        datetime(2026, 11, 1, 6, 0, tzinfo=UTC),
    ):
        assert GRADIENT_DEFAULT.next_fire(now, CHICAGO) == next_run(now, CHICAGO)
        for last in (None, P(2026, 8)):
            assert GRADIENT_DEFAULT.due(now, CHICAGO, last_done=last, since=None) == due_periods(now, CHICAGO, last)
    since = datetime(2026, 9, 10, tzinfo=UTC)
    now = datetime(2026, 12, 2, tzinfo=UTC)
    assert GRADIENT_DEFAULT.due(now, CHICAGO, last_done=None, since=since) == due_periods(
        now, CHICAGO, None, since=since
    )


def test_next_fire_is_strictly_after_now() -> None:
    s = MonthlySchedule.parse(day=15, at="12:00", period="current")
    assert s.next_fire(datetime(2026, 10, 15, 12, 0, tzinfo=UTC), UTC) == datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
    assert s.next_fire(datetime(2026, 10, 15, 11, 59, tzinfo=UTC), UTC) == datetime(2026, 10, 15, 12, 0, tzinfo=UTC)


def test_catch_up_pushes_each_missed_period_once() -> None:
    s = MonthlySchedule.parse(day=28, at="23:00", period="current")
    since = datetime(2026, 8, 1, tzinfo=UTC)
    # down from September 20 to December 2: the fires of Sep, Oct, Nov 28 were missed
    now = datetime(2026, 12, 2, tzinfo=UTC)
    assert s.due(now, UTC, last_done=P(2026, 8), since=since) == [P(2026, 9), P(2026, 10), P(2026, 11)]
    assert s.due(now, UTC, last_done=P(2026, 11), since=since) == []
    # previous-month schedules: the period after last_done's is the next one due
    prev = MonthlySchedule.parse(day=3, at="00:00", period="previous")
    assert prev.due(datetime(2026, 12, 3, tzinfo=UTC), UTC, last_done=P(2026, 10), since=since) == [P(2026, 11)]
    # a schedule set after this month's fire starts with next month's
    assert (
        s.due(datetime(2026, 10, 29, tzinfo=UTC), UTC, last_done=None, since=datetime(2026, 10, 28, 23, 30, tzinfo=UTC))
        == []
    )


@pytest.mark.parametrize(
    ("day", "at", "period", "words"),
    [
        (29, "00:00", "previous", "1 to 28 or 'last'"),
        (1, "24:00", "previous", "HH:MM"),
        (1, "7:00", "current", "HH:MM"),
        (1, "00:00", "next", "'previous' or 'current'"),
    ],
)
def test_bad_schedules(day: int, at: str, period: str, words: str) -> None:
    with pytest.raises(UserInputError, match=words):
        MonthlySchedule.parse(day=day, at=at, period=period)
