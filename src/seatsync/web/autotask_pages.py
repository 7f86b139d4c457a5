"""The Integrations page's Autotask section: connect (naming each missing permission), check (disconnect, asked
first on the page, is every target's ``/integrations/{target}/disconnect``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from seatsync.connectors.autotask import DEFAULT_ZONE_URL
from seatsync.db.models import Tenant as TenantRow
from seatsync.domain.periods import BillingPeriod
from seatsync.errors import SeatsyncError
from seatsync.push import gate, runs
from seatsync.push.runs import Outcome
from seatsync.services import autotask_connection as at
from seatsync.services import psa_mappings
from seatsync.services.billing import count_billable
from seatsync.web.api.routes import autotask as at_routes
from seatsync.web.deps import AdminOperator, CurrentOperator, DbSession, Now, State, Tenant
from seatsync.web.errors import status_for
from seatsync.web.flash import flash_redirect
from seatsync.web.mapper import PAGE_SIZE, Filter, page_shown
from seatsync.web.mappers.autotask import LAYOUT, row_cells
from seatsync.web.pages import INTEGRATIONS, integrations_page, mapper_page_response, tenant_zone
from seatsync.web.periods import current_period

TARGET = "autotask"

router = APIRouter(include_in_schema=False)


def _failed(request: Request, db: Session, tenant: TenantRow, when: datetime, exc: SeatsyncError) -> HTMLResponse:
    db.commit()  # keep what the service recorded about the failure (status broken, reason)
    return integrations_page(request, db, tenant, when, flash=str(exc), flash_kind="error", status_code=status_for(exc))


def _said(result: at.ConnectionResult) -> tuple[str, str]:
    if result.status is at.IntegrationStatus.CONNECTED:
        return "Connected to Autotask: every permission is granted.", "ok"
    if result.kept_previous:
        return f"Nothing changed: the check failed ({result.reason}).", "error"
    return f"Saved, but the connection is broken: {result.reason}", "error"


@router.post("/integrations/autotask/connect")
def autotask_connect_submit(
    request: Request,
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
    state: State,
    at_now: Now,
    username: Annotated[str, Form(max_length=200)],
    secret: Annotated[str, Form(max_length=200)],
    integration_code: Annotated[str, Form(max_length=100)],
    zone_url: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    try:
        result = at.connect(
            db,
            tenant=tenant,
            username=username.strip(),
            secret=secret,
            integration_code=integration_code,
            zone_url=zone_url.strip() or DEFAULT_ZONE_URL,
            settings=state.settings,
        )
    except SeatsyncError as exc:
        return _failed(request, db, tenant, at_now, exc)
    return flash_redirect(INTEGRATIONS, *_said(result))


@router.post("/integrations/autotask/check")
def autotask_check_submit(
    request: Request, principal: AdminOperator, tenant: Tenant, db: DbSession, state: State, at_now: Now
) -> Response:
    try:
        result = at.check_connection(db, tenant=tenant, settings=state.settings)
    except SeatsyncError as exc:
        return _failed(request, db, tenant, at_now, exc)
    return flash_redirect(INTEGRATIONS, *_said(result))


@router.get("/autotask/billing")
def autotask_mapper_view(
    request: Request,
    principal: CurrentOperator,
    tenant: Tenant,
    db: DbSession,
    state: State,
    period: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
    q: Annotated[str, Query(max_length=200)] = "",
    filter: Filter = Filter.ALL,
    page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    """Autotask › Billing: the mapper page every target shares, with Autotask's rows."""
    chosen = BillingPeriod.parse(period) if period else current_period(tenant, state.clock())
    zone = tenant_zone(tenant)
    admin = principal.is_admin
    counts = count_billable(db, tenant=tenant, period=chosen)
    mapped = psa_mappings.tenant_mappings(db, tenant_id=tenant.id, target=TARGET)
    results = runs.latest_results(db, tenant_id=tenant.id, target=TARGET, period=str(chosen))
    wanted = q.strip().casefold()
    kinds: dict[Filter, list[int]] = {f: [] for f in Filter}
    shown = []
    for c in counts:
        if wanted and wanted not in c.name.casefold() and wanted not in c.company_id.casefold():
            continue
        rows = mapped.get(c.company_pk, {})
        result = results.get(c.company_pk)
        outcome = result.outcome if result else None
        matches = {
            Filter.ALL: True,
            Filter.FAILED: outcome == Outcome.FAILED,
            Filter.UNMAPPED: not rows or not all(m.item_id for m in rows.values()),
            Filter.BLOCKED: outcome == Outcome.BLOCKED,
            Filter.DRIFT: outcome == Outcome.BLOCKED
            and "changed in Autotask" in (result.reason or "" if result else ""),
        }
        for kind, ok in matches.items():
            if ok:
                kinds[kind].append(c.company_pk)
        if matches[filter]:
            shown.append((c, rows, result))
    page_no = page_shown(page_no, len(shown))
    page_rows = shown[(page_no - 1) * PAGE_SIZE : page_no * PAGE_SIZE]
    cells = [
        row_cells(pk=c.company_pk, company_id=c.company_id, name=c.name, billable=c.billable_users, mappings=rows,
                  result=result, admin=admin, zone=zone)
        for c, rows, result in page_rows
    ]  # fmt: skip
    integration = at.get_integration(db, tenant=tenant)
    connection = at_routes.connection_out(db, tenant)
    return mapper_page_response(
        request,
        directory=state.directories.get(db, tenant=tenant),
        layout=LAYOUT,
        tenant=tenant,
        rows=cells,
        period=chosen,
        q=q,
        chosen=filter,
        page_no=page_no,
        total=len(shown),
        filter_counts={kind: len(pks) for kind, pks in kinds.items()},
        connection=connection,
        can_preview=integration is not None and integration.secret is not None,
        runs=runs.period_runs(db, tenant_id=tenant.id, target=TARGET, period=str(chosen)),
        automap=False,
        now=state.clock(),
        admin=admin,
        threshold=gate.threshold_for(db, tenant_id=tenant.id, target=TARGET),
    )
