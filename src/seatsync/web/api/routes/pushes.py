"""Pushes: preview the plan, start a push (in the background, through ``dispatch_push``), follow its progress,
and the history: every run with its per-company rows, CSV export, the report file of a company."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatsync.csv_safe import SafeWriter
from seatsync.db.models import Company, PushResult, PushRun
from seatsync.domain.approvals import change, over
from seatsync.domain.periods import BillingPeriod
from seatsync.domain.rules import product_name
from seatsync.errors import Conflict, NotFound
from seatsync.push import connectwise as cw_push
from seatsync.push import engine as push_engine
from seatsync.push import gate, runs
from seatsync.push.reports import rebuild_report
from seatsync.push.runs import RunStatus
from seatsync.services import connectwise_connection as cw
from seatsync.targets.registry import get_target, target_keys
from seatsync.web.deps import (
    AdminOperator,
    CurrentOperator,
    DbSession,
    IdPath,
    State,
    Tenant,
    commit_on_connector_error,
    local_read,
    reads_only,
    run_db,
)
from seatsync.web.dispatch import dispatch_push, progress_board
from seatsync.web.periods import current_period

router = APIRouter(prefix="/pushes", tags=["pushes"])
PERIOD = r"^\d{4}-\d{2}$"


class PreviewIn(BaseModel):
    period: str | None = Field(None, pattern=PERIOD, description="default: the current month")
    target: str = Field("connectwise", max_length=16, description="a PSA target: connectwise, autotask ...")


class PlanRowOut(BaseModel):
    company_id: str
    name: str
    product: str = Field("", description="the item's product: \"\" = one item for all the company's products")
    billable: int
    mapping: str
    before: float | None
    after: int | None
    action: str
    reason: str | None
    note: str | None = Field(None, description="billed together with ..., archived ...")
    invoice: str | None = Field(None, description="on which invoice the new quantity lands, and what is billed")
    invoice_date: str | None = Field(None, description="the agreement's next invoice date (YYYY-MM-DD)")
    already_invoiced: bool = Field(False, description="the invoice covering the period was generated already")
    prorated: bool = False
    less_included: float | None = None
    billed_quantity: float | None = Field(None, description="after - lessIncluded, not below 0")
    over_threshold: bool = Field(
        False,
        description="the change goes over the tenant's approval threshold: a push sends it only with "
        "approve_over_threshold (otherwise it waits on Approvals)",
    )
    change_seats: float | None = Field(None, description="after - before (before null counts as 0)")
    change_percent: float | None = Field(None, description="the change in percent of before; null when before is 0")


class PreviewOut(BaseModel):
    period: str
    period_status: str = Field(
        "closed", description='"closed", or "in progress" (the current month: counts may still rise)'
    )
    counts: dict[str, int]
    rows: list[PlanRowOut]
    approval_threshold: str | None = Field(
        None, description='the tenant\'s approval threshold for this target ("more than 50%"), null when none'
    )
    over_threshold: int = Field(0, description="how many rows go over it (over_threshold true)")


class PushIn(BaseModel):
    target: str = Field("connectwise", description="a billing target: connectwise, gradient ...")
    period: str | None = Field(
        None,
        pattern=PERIOD,
        description="default: the target's (current month for ConnectWise, previous for Gradient); a month that "
        "has not started is refused (422)",
    )
    force: bool = Field(False, description="also push rows that are blocked (confirm with the operator first)")
    retry_failed: bool = Field(False, description="only the companies that failed in the period's latest run")
    dry_run: bool = Field(False, description="record what would be done (outcome planned); send nothing")
    skip_invoiced: bool = Field(
        False,
        description="leave out (outcome skipped, with the reason) the rows whose period is already invoiced "
        "(ConnectWise; a target that cannot honour it answers 422)",
    )
    approve_over_threshold: bool = Field(
        False,
        description="send the rows whose change goes over the tenant's approval threshold too (show them to the "
        "operator first: the preview's over_threshold rows); without it they are held (outcome awaiting, on "
        "/approvals) and the others are sent",
    )

    @field_validator("target")
    @classmethod
    def _known_target(cls, value: str) -> str:
        if value not in target_keys():
            raise ValueError(f"unknown target {value!r}; one of: {', '.join(target_keys())}")
        return value


class RunOut(BaseModel):
    id: int
    target: str
    period: str
    started_by: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    status_reason: str | None
    dry_run: bool
    forced: bool
    retry_failed: bool
    approved_over_threshold: bool = Field(
        False, description="its operator confirmed the rows over the approval threshold"
    )
    skip_invoiced: bool = Field(False, description="rows whose period was already invoiced were left out")
    total: int
    succeeded: int
    failed: int
    unchanged: int
    skipped: int
    blocked: int
    not_mapped: int
    done: int = Field(0, description="companies recorded so far")
    expected: int | None = Field(None, description="companies this run considers, while it runs (when known)")


class ResultOut(BaseModel):
    company_id: str
    name: str
    outcome: str
    billable: int | None
    before: float | None
    after: float | None
    reason: str | None
    cw_company_id: int | None
    agreement_id: int | None
    addition_id: int | None
    document_id: int | None
    product: str | None
    #: Gradient's service id, and its name (``Security Awareness Training``)
    service: str | None
    service_name: str | None = None
    attempts: int
    has_report: bool


class RunDetailOut(RunOut):
    results: list[ResultOut]


class StartedOut(BaseModel):
    run_id: int | None
    status_url: str | None
    period: str | None = None
    period_status: str | None = Field(None, description='"closed", or "in progress" for the current month')
    approval: str | None = Field(
        None,
        description="what happens to the rows over the tenant's approval threshold (null: the target has none)",
    )


def mark_over_threshold(db: Session, tenant: Tenant, target: str, out: PreviewOut) -> PreviewOut:
    """Each row whose change goes over the tenant's approval threshold, marked as the push's gate judges it."""
    threshold = gate.threshold_for(db, tenant_id=tenant.id, target=target)
    if not threshold.active:
        return out
    out.approval_threshold = threshold.describe()
    for row in out.rows:
        if over(threshold, row.before, row.after):  # the gate's own rule (``seatsync.push.gate``)
            found = change(row.before, float(row.after or 0))
            row.over_threshold, row.change_seats, row.change_percent = True, found.seats, found.percent
            out.over_threshold += 1
    return out


def run_out(db: Session, run: PushRun, state: State | None = None) -> RunOut:
    out = RunOut.model_validate(run, from_attributes=True)
    if run.status == RunStatus.RUNNING:
        # the results written so far, of the total the run planned (any process can answer: the run may run in
        # another worker); this process's live count when the run is its own
        out.done = db.scalar(select(func.count()).where(PushResult.run_id == run.id)) or 0
        out.expected = run.total or None
        live = progress_board(state).get((run.tenant_id, run.target)) if state is not None else None
        if live is not None and live.total:
            out.done, out.expected = max(out.done, live.done), live.total
    else:
        out.done = out.expected = run.total
    return out


def result_out(row: runs.ResultRow) -> ResultOut:
    r = row.result
    return ResultOut(
        company_id=row.company_id,
        name=row.company_name,
        outcome=r.outcome,
        billable=r.billable,
        before=r.quantity_before,
        after=r.quantity_after,
        reason=r.reason,
        cw_company_id=r.cw_company_id,
        agreement_id=r.agreement_id,
        addition_id=r.addition_id,
        document_id=r.document_id,
        product=r.product,
        service=r.service,
        service_name=product_name(r.product) if r.service else None,
        attempts=r.attempts,
        has_report=r.report_sha256 is not None,
    )


def _target_preview(key: str, db: Session, tenant: Tenant, state: Any, period: BillingPeriod) -> PreviewOut:
    """The preview of a target other than ConnectWise, from its own plan (``BillingTarget.plan``)."""
    from seatsync.push import engine as push_engine

    target = get_target(key)
    with commit_on_connector_error(db):
        client = target.client(db, tenant, settings=state.settings, engine=state.engine, shared_pacing=False)
        try:
            planned = push_engine.preview(db, tenant=tenant, target=key, period=period, client=client)
        finally:
            client.close()
    counts: dict[str, int] = {}
    for r in planned:
        counts[r.action.value] = counts.get(r.action.value, 0) + 1
    rows = [
        PlanRowOut(
            company_id=r.company.company_id, name=r.company.name, product=r.product, billable=r.billable,
            mapping=r.mapping, before=r.before, after=int(r.after) if r.after is not None else None,
            action=r.action.value, reason=r.reason,
        )
        for r in planned
    ]  # fmt: skip
    status = push_engine.period_status(period, zone=tenant.time_zone, now=state.clock())
    return PreviewOut(period=str(period), period_status=status, counts=counts, rows=rows)


def approval_note(db: Session, tenant: Tenant, target: str, *, confirmed: bool, dry_run: bool) -> str | None:
    """What a push by hand does with the rows over the tenant's approval threshold (None: there is none)."""
    threshold = gate.threshold_for(db, tenant_id=tenant.id, target=target)
    if not threshold.active or dry_run:
        return None
    if confirmed:
        return f"rows changing by {threshold.describe()} are sent (confirmed)"
    return (
        f"rows changing by {threshold.describe()} are held for approval (outcome awaiting, listed on Approvals); "
        "push with approve_over_threshold to send them"
    )


def default_period(target: str, tenant: Tenant, now: datetime) -> BillingPeriod:
    return get_target(target).default_period(current_period(tenant, now))


@router.post("/preview")
def preview(body: PreviewIn, principal: CurrentOperator, tenant: Tenant, db: DbSession, state: State) -> PreviewOut:
    """What a push would do for each company (before → after, action, reason). Changes nothing."""
    period = BillingPeriod.parse(body.period) if body.period else current_period(tenant, state.clock())
    status = push_engine.period_status(period, zone=tenant.time_zone, now=state.clock())  # 422 before it starts
    if body.target != "connectwise":
        return mark_over_threshold(db, tenant, body.target, _target_preview(body.target, db, tenant, state, period))
    with commit_on_connector_error(db), cw.client_for(db, tenant=tenant, settings=state.settings) as client:
        plan = cw_push.preview(db, tenant=tenant, period=period, client=client)
    out = PreviewOut(
        period=plan.period,
        period_status=status,
        counts={action.value: n for action, n in plan.counts().items()},
        rows=[
            PlanRowOut(
                company_id=r.company.company_id,
                name=r.company.name,
                billable=r.billable,
                mapping=r.mapping_state.value,
                before=r.current_quantity,
                after=r.proposed_quantity,
                action=r.action.value,
                reason=r.reason,
                product=r.product,
                note=r.note,
                invoice=r.invoice.describe() if r.invoice else None,
                invoice_date=r.invoice.invoice_date.isoformat() if r.invoice and r.invoice.invoice_date else None,
                already_invoiced=r.already_invoiced,
                prorated=bool(r.invoice and r.invoice.prorated),
                less_included=r.invoice.less_included if r.invoice else None,
                billed_quantity=r.invoice.billed_quantity if r.invoice else None,
            )
            for r in plan.rows
        ],
    )
    return mark_over_threshold(db, tenant, body.target, out)


@router.post(
    "",
    status_code=202,
    responses={
        409: {"description": "a push of this target is already running, or the target is not connected"},
        422: {"description": "the period has not started, or an option the target cannot honour"},
    },
)
def start_push(body: PushIn, principal: AdminOperator, tenant: Tenant, db: DbSession, state: State) -> JSONResponse:
    """Start a push in the background; follow it at ``status_url`` (``GET /api/v1/pushes/{run_id}``)."""
    now = state.clock()
    period = BillingPeriod.parse(body.period) if body.period else default_period(body.target, tenant, now)
    status = push_engine.period_status(period, zone=tenant.time_zone, now=now)  # 422 before anything is started
    approval = approval_note(db, tenant, body.target, confirmed=body.approve_over_threshold, dry_run=body.dry_run)
    db.commit()  # end this request's transaction (and its SQLite write lock) before the push starts
    run_id = dispatch_push(
        state,
        tenant_id=tenant.id,
        target=body.target,
        period=period,
        started_by=principal.email,
        force=body.force,
        retry_failed=body.retry_failed,
        dry_run=body.dry_run,
        skip_invoiced=body.skip_invoiced,
        approve_over_threshold=body.approve_over_threshold,
    )
    started = StartedOut(
        run_id=run_id,
        status_url=f"/api/v1/pushes/{run_id}",
        period=str(period),
        period_status=status,
        approval=approval,
    )
    return JSONResponse(started.model_dump(), status_code=202)


@router.get("")
@local_read
def list_runs(
    principal: CurrentOperator,
    tenant: Tenant,
    db: DbSession,
    state: State,
    target: Annotated[str | None, Query(max_length=16, description="a target key")] = None,
    period: Annotated[str | None, Query(pattern=PERIOD)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[RunOut]:
    """Every push run, newest first."""
    found = runs.list_runs(
        db, tenant_id=tenant.id, target=target, period=period, limit=per_page, offset=(page - 1) * per_page
    )
    return [run_out(db, r, state) for r in found]


@router.get("/export.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export_runs(
    principal: CurrentOperator,
    tenant: Tenant,
    db: DbSession,
    target: Annotated[str | None, Query(max_length=16, description="a target key")] = None,
) -> Response:
    """Every run (up to 10,000, newest first) as CSV."""
    found = runs.list_runs(db, tenant_id=tenant.id, target=target, limit=10_000)
    buffer = io.StringIO()
    writer = SafeWriter(buffer)
    header = ["run_id", "target", "period", "started_by", "started_at", "finished_at", "status", "status_reason"]
    header += ["dry_run", "forced", "total", "succeeded", "unchanged", "failed", "blocked", "skipped", "not_mapped"]
    writer.writerow(header)
    for r in found:
        writer.writerow(
            [
                r.id,
                r.target,
                r.period,
                r.started_by,
                r.started_at.isoformat(),
                r.finished_at.isoformat() if r.finished_at else "",
                r.status,
                r.status_reason or "",
                r.dry_run,
                r.forced,
                r.total,
                r.succeeded,
                r.unchanged,
                r.failed,
                r.blocked,
                r.skipped,
                r.not_mapped,
            ]
        )
    return csv_response(buffer.getvalue(), "seatsync-push-runs.csv")


def csv_response(text: str, filename: str) -> Response:
    return Response(
        text.encode(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/{run_id}", responses={404: {"description": "no such run for your tenant"}})
@reads_only
async def get_run(
    request: Request,
    run_id: IdPath,
    principal: CurrentOperator,
    tenant: Tenant,
    db: DbSession,
    state: State,
    results: Annotated[bool, Query(description="include the per-company rows")] = False,
) -> RunDetailOut:
    """A run's status and counts (poll this while it runs), with its per-company rows on request."""

    def detail() -> RunDetailOut:
        run = runs.get_run(db, tenant_id=tenant.id, run_id=run_id)
        rows = [result_out(r) for r in runs.run_results(db, tenant_id=tenant.id, run_id=run_id)] if results else []
        return RunDetailOut(**run_out(db, run, state).model_dump(), results=rows)

    # every company's row may be thousands: those are read on a worker thread
    return await (run_in_threadpool(detail) if results else run_db(request, detail))


@router.get("/{run_id}/results.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}, 404: {}})
def export_results(run_id: IdPath, principal: CurrentOperator, tenant: Tenant, db: DbSession) -> Response:
    """A run's per-company rows as CSV: before → after, outcome, reason."""
    run = runs.get_run(db, tenant_id=tenant.id, run_id=run_id)
    buffer = io.StringIO()
    writer = SafeWriter(buffer)
    writer.writerow(
        [
            "run_id",
            "period",
            "target",
            "company_id",
            "company_name",
            "product",
            "service",
            "service_name",
            "billable",
            "before",
            "after",
            "outcome",
            "reason",
            "cw_company_id",
            "agreement_id",
            "addition_id",
            "document_id",
        ]
    )
    for row in runs.run_results(db, tenant_id=tenant.id, run_id=run_id):
        r = row.result
        writer.writerow(
            [
                run.id,
                run.period,
                run.target,
                row.company_id,
                row.company_name,
                r.product or "",
                r.service or "",
                product_name(r.product) if r.service else "",
                r.billable if r.billable is not None else "",
                _num(r.quantity_before),
                _num(r.quantity_after),
                r.outcome,
                r.reason or "",
                r.cw_company_id or "",
                r.agreement_id or "",
                r.addition_id or "",
                r.document_id or "",
            ]
        )
    return csv_response(buffer.getvalue(), f"seatsync-push-{run.id}-{run.target}-{run.period}.csv")


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@router.get(
    "/{run_id}/reports/{company_id}",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, 404: {}, 409: {"description": "the data changed since the push"}},
)
def report_file(
    run_id: IdPath,
    company_id: Annotated[str, Path(min_length=1, max_length=200)],
    principal: CurrentOperator,
    tenant: Tenant,
    db: DbSession,
) -> Response:
    """The billable-user report attached to the agreement for this company in this run (rebuilt and checked
    against the hash recorded at push time)."""
    run = runs.get_run(db, tenant_id=tenant.id, run_id=run_id)
    company = db.scalar(select(Company).where(Company.tenant_id == tenant.id, Company.company_id == company_id))
    if company is None:
        raise NotFound(f"no company {company_id!r}")
    result = db.scalar(
        select(PushResult).where(
            PushResult.run_id == run.id, PushResult.company_pk == company.id, PushResult.tenant_id == tenant.id
        )
    )
    if result is None or result.report_sha256 is None:
        raise NotFound(f"run {run.id} attached no report for {company_id!r}")
    report = rebuild_report(db, tenant=tenant, run=run, company=company)
    if report.sha256 != result.report_sha256:
        where = (
            f" (ConnectWise document {result.document_id} on agreement {result.agreement_id})"
            if result.document_id
            else ""
        )
        raise Conflict(
            f"the users of {company.name} for {run.period} changed since this push, so its report cannot be rebuilt "
            f"exactly; the report as attached is in ConnectWise{where}"
        )
    return Response(
        report.content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{report.filename}"'},
    )
