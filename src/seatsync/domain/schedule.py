"""The monthly Gradient schedule. Pure: the clock is an argument.

A period's scheduled push is due at the first instant of the next month — the 1st at 00:00 in the tenant's
zone (``BillingPeriod.end``; in a zone whose midnight is skipped by a DST change, the first instant that
exists). At each start and each tick the scheduler asks ``due_periods`` and pushes what it returns, in order.

Catch-up: when seatsync was down over one or more 1sts, *each* missed period is pushed exactly once, oldest
first — every month's counts reach Gradient, nothing twice. "Pushed" is what the caller records
(``last_pushed``: the newest period pushed *after it ended*; a "push now" of an unfinished month must not be
passed here, or that month's final push would be skipped).
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from seatsync.domain.periods import BillingPeriod, time_zone


def _zone(tz: tzinfo | str) -> tzinfo:
    return time_zone(tz) if isinstance(tz, str) else tz


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


def push_instant(period: BillingPeriod, tz: tzinfo | str) -> datetime:
    """When ``period`` is pushed: the 1st of the following month at 00:00 in ``tz``, as a UTC instant."""
    return period.end(_zone(tz))


def due_periods(
    now: datetime,
    tz: tzinfo | str,
    last_pushed: BillingPeriod | None,
    *,
    since: datetime | None = None,
) -> list[BillingPeriod]:
    """The periods to push now, oldest first (empty when nothing is due).

    ``last_pushed``: the newest period already pushed by the schedule (or after it ended); None when never.
    ``since``: when the schedule began (the integration was connected); a period whose push instant came
    before it is not caught up. With neither ``last_pushed`` nor ``since``, only the latest ended period is due.
    """
    zone = _zone(tz)
    latest = BillingPeriod.containing(_aware(now), zone).previous()  # its push instant, the 1st, has passed
    if last_pushed is not None:
        first = last_pushed.next()
    elif since is not None:
        # the first period whose push instant is at or after the schedule began
        first = BillingPeriod.containing(_aware(since), zone)
        if push_instant(first.previous(), zone) >= since:
            first = first.previous()
    else:
        first = latest
    due: list[BillingPeriod] = []
    period = first
    while period <= latest:
        due.append(period)
        period = period.next()
    return due


def next_run(now: datetime, tz: tzinfo | str) -> datetime:
    """The next scheduled push strictly after ``now`` (UTC): the coming 1st at 00:00 in ``tz``."""
    zone = _zone(tz)
    return push_instant(BillingPeriod.containing(_aware(now), zone), zone)
