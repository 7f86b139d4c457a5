"""Billing periods: calendar months in a tenant's time zone. Pure, no I/O.

A period runs from the first instant of its month (inclusive) to the first instant of the next month
(exclusive), both at local midnight in the tenant's zone. Instants are UTC-aware datetimes; midnight is
computed in the zone, so a month that contains a DST change is still exactly its calendar days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from seatsync.errors import InvalidPeriod, InvalidTimeZone

_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")


def time_zone(name: str) -> ZoneInfo:
    """The zone called ``name`` (IANA, e.g. ``America/Chicago``), or a clear error."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidTimeZone(f"unknown time zone {name!r}: use an IANA name such as 'America/Chicago'") from exc


@dataclass(frozen=True, slots=True, order=True)
class BillingPeriod:
    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise InvalidPeriod(f"month {self.month} is not between 01 and 12")
        if not 1970 <= self.year <= 9998:
            raise InvalidPeriod(f"year {self.year} is out of range (1970-9998)")

    @classmethod
    def parse(cls, text: str) -> BillingPeriod:
        """``"2026-10"`` → BillingPeriod(2026, 10); anything else is refused, naming the problem."""
        match = _PERIOD.match(text.strip())
        if not match:
            raise InvalidPeriod(f"billing period {text!r} is not in the form YYYY-MM (for example 2026-10)")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def containing(cls, instant: datetime, zone: tzinfo) -> BillingPeriod:
        """The period that ``instant`` (aware) falls in, as seen in ``zone``."""
        if instant.tzinfo is None:
            raise ValueError("instant must be timezone-aware")
        local = instant.astimezone(zone)
        return cls(local.year, local.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> BillingPeriod:
        return BillingPeriod(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> BillingPeriod:
        return BillingPeriod(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def start(self, zone: tzinfo) -> datetime:
        """First instant of the period, in UTC."""
        return datetime(self.year, self.month, 1, tzinfo=zone).astimezone(UTC)

    def end(self, zone: tzinfo) -> datetime:
        """First instant after the period (exclusive), in UTC."""
        return self.next().start(zone)

    def bounds(self, zone: tzinfo) -> tuple[datetime, datetime]:
        return self.start(zone), self.end(zone)


def shown_instant(value: datetime, zone: ZoneInfo) -> str:
    """An instant as every surface shows it: local time in the tenant's zone, the zone named
    (``2027-01-01 05:00 America/New_York``). Naive values are UTC (as stored)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return f"{value.astimezone(zone).isoformat(' ', 'minutes')[:16]} {zone.key}"


def local_date(value: datetime, zone: ZoneInfo) -> str:
    """The instant's date in the zone (``2026-12-01``)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone).date().isoformat()
