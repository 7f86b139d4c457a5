"""A tenant's automation settings per target (``target_automation``): the service board for tickets, the
approval threshold, the schedule. Read with ``automation_for`` (None: nothing set); written through the
setters, which create the row on first use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatsync.db.models import TargetAutomation, Tenant
from seatsync.domain.approvals import Threshold
from seatsync.domain.monthly import GRADIENT_DEFAULT, MonthlySchedule
from seatsync.domain.periods import BillingPeriod, time_zone
from seatsync.errors import InvalidField, UnsupportedOption, UserInputError
from seatsync.targets.base import PushOptions
from seatsync.targets.registry import get_target

__all__ = [
    "PSAS",
    "SKIPPING_INVOICED",
    "TARGETS",
    "TargetPlan",
    "Threshold",
    "all_automation",
    "automation_for",
    "check_skip_invoiced",
    "check_target",
    "overview",
    "schedule_of",
    "schedule_off",
    "set_schedule",
    "set_threshold",
    "set_ticket_board",
    "skips_invoiced",
    "target_default_schedule",
    "threshold_of",
]

TARGETS = ("connectwise", "autotask", "halopsa", "gradient")
#: how every surface says that a schedule pushes with ``skip_invoiced``
SKIPPING_INVOICED = "skipping rows whose period is already invoiced"
PSAS = ("connectwise", "autotask", "halopsa")


def check_target(target: str, *, psa_only: bool = False) -> str:
    allowed = PSAS if psa_only else TARGETS
    if target not in allowed:
        raise UserInputError(
            f"unknown {'PSA' if psa_only else 'target'} {target!r}: choose one of {', '.join(allowed)}"
        )
    return target


def automation_for(session: Session, *, tenant_id: int, target: str) -> TargetAutomation | None:
    return session.scalar(
        select(TargetAutomation).where(TargetAutomation.tenant_id == tenant_id, TargetAutomation.target == target)
    )


def all_automation(session: Session, *, tenant_id: int) -> dict[str, TargetAutomation]:
    rows = session.scalars(select(TargetAutomation).where(TargetAutomation.tenant_id == tenant_id))
    return {row.target: row for row in rows}


def _row(session: Session, *, tenant: Tenant, target: str, by: str) -> TargetAutomation:
    row = automation_for(session, tenant_id=tenant.id, target=check_target(target))
    if row is None:
        row = TargetAutomation(tenant_id=tenant.id, target=target, updated_by=by)
        session.add(row)
    row.updated_by = by
    return row


def set_ticket_board(
    session: Session, *, tenant: Tenant, target: str, board_id: str | None, board_name: str | None, by: str
) -> TargetAutomation:
    """Tickets for ``target`` go to this board from now on (None: no tickets)."""
    check_target(target, psa_only=True)
    row = _row(session, tenant=tenant, target=target, by=by)
    row.ticket_board_id = board_id
    row.ticket_board_name = board_name if board_id else None
    session.flush()
    return row


def set_threshold(
    session: Session, *, tenant: Tenant, target: str, percent: float | None, seats: int | None, by: str
) -> TargetAutomation:
    """Rows whose quantity would change by more than ``percent`` % or ``seats`` seats wait for approval
    (None for both: no threshold)."""
    if percent is not None and not 0 <= percent <= 10_000:
        raise InvalidField("approve_above_percent", f"must be a percentage between 0 and 10000, not {percent:g}")
    if seats is not None and not 0 <= seats <= 10_000_000:
        raise InvalidField("approve_above_seats", f"must be a number of seats, 0 or more, not {seats}")
    row = _row(session, tenant=tenant, target=target, by=by)
    row.approve_above_percent = percent
    row.approve_above_seats = seats
    session.flush()
    return row


def target_default_schedule(target: str) -> MonthlySchedule | None:
    """Without a schedule set: Gradient on day 1 at 00:00, the previous month (as always); a PSA: none."""
    return GRADIENT_DEFAULT if target == "gradient" else None


def schedule_of(row: TargetAutomation | None, target: str) -> MonthlySchedule | None:
    """The schedule in force for a target (None: not scheduled)."""
    if row is None or row.schedule_enabled is None:
        return target_default_schedule(target)
    if not row.schedule_enabled:
        return None
    return MonthlySchedule.parse(day=row.schedule_day, at=row.schedule_at, period=row.schedule_period)


def check_skip_invoiced(target: str) -> None:
    """Raise ``UnsupportedOption`` (the target's own words, naming it) when ``target``'s pushes cannot leave out the
    items whose period is already invoiced: a schedule never keeps an option its push would refuse."""
    # the target's refusal is judged on the option alone: any period will do
    get_target(check_target(target)).check_options(PushOptions(BillingPeriod(2000, 1), skip_invoiced=True))


def skips_invoiced(target: str) -> bool:
    """Whether ``target``'s pushes (and so its schedule) can leave out the items whose period is already invoiced."""
    try:
        check_skip_invoiced(target)
    except UnsupportedOption:
        return False
    return True


def set_schedule(
    session: Session,
    *,
    tenant: Tenant,
    target: str,
    schedule: MonthlySchedule,
    by: str,
    skip_invoiced: bool = False,
) -> TargetAutomation:
    """Push ``target`` on ``schedule`` from now on; ``skip_invoiced``: leaving out the items whose period is already
    invoiced (``UnsupportedOption`` for a target that cannot tell)."""
    if skip_invoiced:
        check_skip_invoiced(target)
    row = _row(session, tenant=tenant, target=target, by=by)
    row.schedule_enabled = True
    row.schedule_day, row.schedule_at, row.schedule_period = schedule.day_text, schedule.at, schedule.period
    row.schedule_skip_invoiced = skip_invoiced
    session.flush()
    return row


def schedule_off(session: Session, *, tenant: Tenant, target: str, by: str) -> TargetAutomation:
    row = _row(session, tenant=tenant, target=target, by=by)
    row.schedule_enabled = False
    session.flush()
    return row


def threshold_of(row: TargetAutomation | None) -> Threshold:
    if row is None:
        return Threshold()
    return Threshold(percent=row.approve_above_percent, seats=row.approve_above_seats)


@dataclass(frozen=True, slots=True)
class TargetPlan:
    """A target's schedule and threshold as the Integrations page and ``schedule show`` show them."""

    target: str
    schedule: MonthlySchedule | None
    threshold: Threshold
    #: the next scheduled push, in the tenant's zone
    next_push: datetime | None
    #: the scheduled push leaves out the items whose period is already invoiced
    skip_invoiced: bool = False


def overview(session: Session, *, tenant: Tenant, now: datetime) -> list[TargetPlan]:
    rows = all_automation(session, tenant_id=tenant.id)
    zone = time_zone(tenant.time_zone)
    found: list[TargetPlan] = []
    for target in TARGETS:
        row = rows.get(target)
        schedule = schedule_of(row, target)
        upcoming = schedule.next_fire(now, zone).astimezone(zone) if schedule else None
        skip = bool(schedule and row is not None and row.schedule_skip_invoiced)
        found.append(TargetPlan(target, schedule, threshold_of(row), upcoming, skip))
    return found
