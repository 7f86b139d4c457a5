"""Schedules and approval thresholds per target, and the rows waiting for approval."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from seatsync.domain.monthly import MonthlySchedule
from seatsync.push.runs import get_run
from seatsync.services import approvals, automation
from seatsync.web.deps import AdminOperator, CurrentOperator, DbSession, IdPath, Now, State, Tenant, local_read
from seatsync.web.dispatch import dispatched

router = APIRouter(tags=["automation"])
TargetKey = Literal["connectwise", "autotask", "halopsa", "gradient"]


class ScheduleOut(BaseModel):
    target: str
    scheduled: bool
    day: str | None = Field(None, description="1-28 or last")
    at: str | None = Field(None, description="HH:MM in the tenant's zone")
    period: str | None = Field(None, description="previous or current")
    next_push: datetime | None = Field(None, description="in the tenant's zone")
    approve_above_percent: float | None
    approve_above_seats: int | None
    skip_invoiced: bool = Field(
        False, description="the scheduled push leaves out rows whose period is already invoiced"
    )


class ScheduleIn(BaseModel):
    day: str = Field(max_length=4, description="1-28 or last")
    at: str = Field(max_length=5, description="HH:MM in the tenant's zone")
    period: Literal["previous", "current"]
    approve_above_percent: float | None = None
    approve_above_seats: int | None = None
    skip_invoiced: bool = Field(
        False,
        description="leave out (skipped, with the reason) the rows whose period is already invoiced, as a push's "
        "skip_invoiced does; only connectwise honours it, the other targets answer 422",
    )


class WaitingRowOut(BaseModel):
    company_id: str
    company_name: str
    product: str
    before: float | None
    proposed: float | None
    change_seats: float
    change_percent: float | None = Field(description="null when the quantity was 0 (a new item)")


class WaitingRunOut(BaseModel):
    run_id: int
    target: str
    period: str
    started_by: str
    started_at: datetime
    rows: list[WaitingRowOut]


class DecisionIn(BaseModel):
    company_ids: list[str] = Field(default_factory=list, description="empty: every waiting row of the run")


def schedules_out(db: DbSession, tenant: Tenant, at: datetime) -> list[ScheduleOut]:
    return [
        ScheduleOut(
            target=p.target,
            scheduled=p.schedule is not None,
            day=p.schedule.day_text if p.schedule else None,
            at=p.schedule.at if p.schedule else None,
            period=p.schedule.period if p.schedule else None,
            next_push=p.next_push,
            approve_above_percent=p.threshold.percent,
            approve_above_seats=p.threshold.seats,
            skip_invoiced=p.skip_invoiced,
        )
        for p in automation.overview(db, tenant=tenant, now=at)
    ]


@router.get("/schedules")
@local_read
def list_schedules(principal: CurrentOperator, tenant: Tenant, db: DbSession, at: Now) -> list[ScheduleOut]:
    """Every target's schedule, next push (tenant's zone) and approval threshold."""
    return schedules_out(db, tenant, at)


@router.put("/schedules/{target}")
def set_schedule(
    target: TargetKey, body: ScheduleIn, principal: AdminOperator, tenant: Tenant, db: DbSession, at: Now
) -> list[ScheduleOut]:
    chosen = MonthlySchedule.parse(day=body.day, at=body.at, period=body.period)
    automation.set_schedule(
        db, tenant=tenant, target=target, schedule=chosen, by=principal.email, skip_invoiced=body.skip_invoiced
    )
    automation.set_threshold(
        db,
        tenant=tenant,
        target=target,
        percent=body.approve_above_percent,
        seats=body.approve_above_seats,
        by=principal.email,
    )
    return schedules_out(db, tenant, at)


@router.delete("/schedules/{target}")
def schedule_off(
    target: TargetKey, principal: AdminOperator, tenant: Tenant, db: DbSession, at: Now
) -> list[ScheduleOut]:
    """No scheduled push of this target."""
    automation.schedule_off(db, tenant=tenant, target=target, by=principal.email)
    return schedules_out(db, tenant, at)


def waiting_out(waiting: approvals.WaitingRun) -> WaitingRunOut:
    return WaitingRunOut(
        run_id=waiting.run.id,
        target=waiting.run.target,
        period=waiting.run.period,
        started_by=waiting.run.started_by,
        started_at=waiting.run.started_at,
        rows=[
            WaitingRowOut(
                company_id=r.company_id,
                company_name=r.company_name,
                product=r.product,
                before=r.before,
                proposed=r.proposed,
                change_seats=r.change.seats,
                change_percent=r.change.percent,
            )
            for r in waiting.rows
        ],
    )


@router.get("/approvals")
@local_read
def list_waiting(principal: CurrentOperator, tenant: Tenant, db: DbSession) -> list[WaitingRunOut]:
    """Runs with rows waiting for approval, newest first."""
    return [waiting_out(w) for w in approvals.waiting_runs(db, tenant=tenant)]


@router.post("/approvals/{run_id}/reject")
def reject(
    run_id: IdPath, body: DecisionIn, principal: AdminOperator, tenant: Tenant, db: DbSession
) -> list[WaitingRowOut]:
    """Drop the run's waiting rows (all, or those companies'): they are not sent. The rows rejected."""
    rows = approvals.reject(db, tenant=tenant, run_id=run_id, company_ids=body.company_ids, by=principal.email)
    return waiting_out(approvals.WaitingRun(get_run(db, tenant_id=tenant.id, run_id=run_id), rows)).rows


class ApprovedOut(BaseModel):
    rows: list[WaitingRowOut]
    run_id: int | None = Field(description="the push that sends them (follow it under /pushes)")


@router.post("/approvals/{run_id}/approve")
def approve(
    run_id: IdPath, body: DecisionIn, principal: AdminOperator, tenant: Tenant, db: DbSession, state: State
) -> ApprovedOut:
    """Send the run's waiting rows (all, or those companies'), exactly as proposed, re-checked against the target."""
    db.commit()  # the push starts in its own transactions
    done = approvals.approve(
        state.engine,
        tenant_id=tenant.id,
        run_id=run_id,
        company_ids=body.company_ids,
        by=principal.email,
        send=dispatched(state),
    )
    rows = waiting_out(approvals.WaitingRun(get_run(db, tenant_id=tenant.id, run_id=run_id), done.rows)).rows
    return ApprovedOut(rows=rows, run_id=done.run_id)
