"""Billing periods as the web shows them."""

from __future__ import annotations

from datetime import datetime

from seatsync.db.models import Tenant
from seatsync.domain.periods import BillingPeriod, time_zone


def current_period(tenant: Tenant, now: datetime) -> BillingPeriod:
    """The month ``now`` falls in, in the tenant's zone (the default ConnectWise push period)."""
    return BillingPeriod.containing(now, time_zone(tenant.time_zone))


def recent_periods(tenant: Tenant, now: datetime, count: int = 13) -> list[BillingPeriod]:
    """The current month and the ones before it, newest first (the period choice)."""
    periods = [current_period(tenant, now)]
    while len(periods) < count:
        periods.append(periods[-1].previous())
    return periods
