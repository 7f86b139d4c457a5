"""A monthly push schedule for any target: day of month (1-28 or ``last``), a local time, and which period it
pushes (the previous month or the current one). Pure: the clock is an argument.

    schedule = MonthlySchedule.parse(day="last", at="18:30", period="current")
    schedule.fire(BillingPeriod(2026, 10), zone)     # 2026-10-31 18:30 in the zone, as UTC
    schedule.next_fire(now, zone)                   # the next one strictly after now
    schedule.due(now, zone, last_done=..., since=...)  # the periods to push now, oldest first (catch-up)

Gradient's default is ``MonthlySchedule(1, "00:00", "previous")``: on the 1st at 00:00, the month that just ended.
A fire time that does not exist in the zone (skipped by a DST change) is read as the zone reads it (``fold=0``):
the same wall time with the offset before the change, so it happens once, at worst an hour early.

Catch-up: each month's fire missed while nothing ran is pushed once, oldest first, when seatsync runs again;
months before ``since`` (when the schedule was set or the target connected) are not caught up.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Literal

from seatsync.domain.periods import BillingPeriod
from seatsync.errors import InvalidField

PeriodChoice = Literal["previous", "current"]
_AT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class MonthlySchedule:
    #: 1-28, or 0 for the month's last day
    day: int
    at: str
    period: PeriodChoice

    @classmethod
    def parse(cls, *, day: str | int, at: str, period: str) -> MonthlySchedule:
        text = str(day).strip().lower()
        if text == "last":
            number = 0
        elif text.isdigit() and 1 <= int(text) <= 28:
            number = int(text)
        else:
            raise InvalidField("day", f"must be 1 to 28 or 'last' (every month has it), not {day!r}")
        if not _AT.match(at.strip()):
            raise InvalidField("at", f"must be a 24-hour time HH:MM (for example 00:00 or 18:30), not {at!r}")
        if period not in ("previous", "current"):
            raise InvalidField("period", f"must be 'previous' or 'current', not {period!r}")
        return cls(number, at.strip(), period)  # type: ignore[arg-type]

    @property
    def day_text(self) -> str:
        return "last" if self.day == 0 else str(self.day)

    def describe(self) -> str:
        day = "the last day" if self.day == 0 else f"day {self.day}"
        which = "the previous month" if self.period == "previous" else "the current month"
        return f"{day} of each month at {self.at}, {which}"

    def fire(self, month: BillingPeriod, zone: tzinfo) -> datetime:
        """When the schedule fires in ``month`` (as UTC)."""
        day = self.day or calendar.monthrange(month.year, month.month)[1]
        hour, minute = (int(p) for p in self.at.split(":"))
        return datetime(month.year, month.month, day, hour, minute, tzinfo=zone).astimezone(UTC)

    def pushes(self, month: BillingPeriod) -> BillingPeriod:
        """The period the fire of ``month`` pushes."""
        return month.previous() if self.period == "previous" else month

    def _month_fired_last(self, now: datetime, zone: tzinfo) -> BillingPeriod:
        """The latest month whose fire is at or before ``now``."""
        month = BillingPeriod.containing(now, zone)
        return month if self.fire(month, zone) <= now else month.previous()

    def next_fire(self, now: datetime, zone: tzinfo) -> datetime:
        """The next fire strictly after ``now``."""
        return self.fire(self._month_fired_last(_aware(now), zone).next(), zone)

    def due(
        self, now: datetime, zone: tzinfo, *, last_done: BillingPeriod | None, since: datetime | None
    ) -> list[BillingPeriod]:
        """The periods to push now, oldest first: those of every fire at or before ``now`` whose period is after
        ``last_done`` and whose fire is at or after ``since`` (with neither, only the latest fire's)."""
        latest = self._month_fired_last(_aware(now), zone)
        if last_done is not None:
            month = last_done.next() if self.period == "current" else last_done.next().next()
        elif since is not None:
            month = BillingPeriod.containing(_aware(since), zone)
            if self.fire(month, zone) < since:
                month = month.next()
        else:
            month = latest
        found: list[BillingPeriod] = []
        while month <= latest:
            if since is None or self.fire(month, zone) >= since or last_done is not None:
                found.append(self.pushes(month))
            month = month.next()
        return found


GRADIENT_DEFAULT = MonthlySchedule(1, "00:00", "previous")


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now
