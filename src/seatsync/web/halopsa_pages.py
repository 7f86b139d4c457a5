"""The Integrations page's HaloPSA section: connect (naming each missing permission), check (disconnect, asked
first on the page, is every target's ``/integrations/{target}/disconnect``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatsync.db.models import Company
from seatsync.db.models import Tenant as TenantRow
from seatsync.domain.periods import BillingPeriod
from seatsync.errors import SeatsyncError
from seatsync.push import gate, runs
from seatsync.services import halopsa_connection as halo
from seatsync.services import psa_mappings
from seatsync.services.billing import count_billable
from seatsync.web.api.routes import halopsa as halo_routes
from seatsync.web.deps import AdminOperator, CurrentOperator, DbSession, Now, State, Tenant
from seatsync.web.errors import status_for
from seatsync.web.flash import flash_redirect
from seatsync.web.mapper import PAGE_SIZE, Filter, page_shown
from seatsync.web.mappers import halopsa as halo_mapper
from seatsync.web.pages import INTEGRATIONS, integrations_page, mapper_page_response, tenant_zone
from seatsync.web.periods import current_period

router = APIRouter(include_in_schema=False)


def _failed(request: Request, db: Session, tenant: TenantRow, when: datetime, exc: SeatsyncError) -> HTMLResponse:
    db.commit()  # keep what the service recorded about the failure
    return integrations_page(request, db, tenant, when, flash=str(exc), flash_kind="error", status_code=status_for(exc))


def _said(result: halo.ConnectionResult) -> tuple[str, str]:
    if result.status is halo.IntegrationStatus.CONNECTED:
        return "Connected to HaloPSA: every permission is granted.", "ok"
    if not result.stored:
        return f"Nothing changed: the check failed ({result.reason}).", "error"
    return f"Saved, but the connection is broken: {result.reason}", "error"


@router.post("/integrations/halopsa/connect")
def halopsa_connect_submit(
    request: Request,
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
    state: State,
    halo_now: Now,
    url: Annotated[str, Form(max_length=300)],
    client_id: Annotated[str, Form(max_length=200)],
    client_secret: Annotated[str, Form(max_length=500)],
    halo_tenant: Annotated[str, Form(max_length=100)] = "",
    auth_url: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    try:
        result = halo.connect(
            db,
            tenant=tenant,
            url=url.strip(),
            client_id=client_id,
            client_secret=client_secret,
            auth_url=auth_url.strip() or None,
            halo_tenant=halo_tenant.strip() or None,
            settings=state.settings,
        )
    except SeatsyncError as exc:
        return _failed(request, db, tenant, halo_now, exc)
    return flash_redirect(INTEGRATIONS, *_said(result))


@router.post("/integrations/halopsa/check")
def halopsa_check_submit(
    request: Request, principal: AdminOperator, tenant: Tenant, db: DbSession, state: State, halo_now: Now
) -> Response:
    try:
        result = halo.check_connection(db, tenant=tenant, settings=state.settings)
    except SeatsyncError as exc:
        return _failed(request, db, tenant, halo_now, exc)
    return flash_redirect(INTEGRATIONS, *_said(result))


# --- HaloPSA › Billing (the mapper) -------------------------------------------------------------------------------


def _matches(chosen: Filter, mapped: bool, outcome: str | None, reason: str | None) -> bool:
    if chosen is Filter.UNMAPPED:
        return not mapped
    if chosen is Filter.FAILED:
        return outcome == runs.Outcome.FAILED
    if chosen is Filter.BLOCKED:
        return outcome == runs.Outcome.BLOCKED
    if chosen is Filter.DRIFT:
        return outcome == runs.Outcome.BLOCKED and "changed in HaloPSA" in (reason or "")
    return True


@router.get("/halopsa/billing")
def halopsa_mapper_view(
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
    """HaloPSA › Billing: one row per company (client, subscription), saved at once; Preview and Push Billing."""
    chosen = BillingPeriod.parse(period) if period else current_period(tenant, state.clock())
    zone = tenant_zone(tenant)
    counts = {c.company_pk: c.billable_users for c in count_billable(db, tenant=tenant, period=chosen)}
    mapped = psa_mappings.tenant_mappings(db, tenant_id=tenant.id, target=halo_mapper.LAYOUT.target)
    results = runs.latest_results(db, tenant_id=tenant.id, target=halo_mapper.LAYOUT.target, period=str(chosen))
    companies = db.execute(
        select(Company.id, Company.company_id, Company.name)
        .where(Company.tenant_id == tenant.id, Company.archived.is_(False))
        .order_by(Company.name, Company.company_id)
    ).all()
    needle = q.strip().casefold()
    shown = [c for c in companies if not needle or needle in c.name.casefold() or needle in c.company_id.casefold()]
    filter_counts = {
        f: sum(
            1
            for c in shown
            if _matches(
                f,
                bool(mapped.get(c.id)),
                getattr(results.get(c.id), "outcome", None),
                getattr(results.get(c.id), "reason", None),
            )
        )
        for f in Filter
    }
    shown = [
        c
        for c in shown
        if _matches(
            filter,
            bool(mapped.get(c.id)),
            getattr(results.get(c.id), "outcome", None),
            getattr(results.get(c.id), "reason", None),
        )
    ]
    page_no = page_shown(page_no, len(shown))
    page_rows = shown[(page_no - 1) * PAGE_SIZE : page_no * PAGE_SIZE]
    rows = [
        halo_mapper.row_cells(
            pk=c.id,
            company_id=c.company_id,
            name=c.name,
            billable=counts.get(c.id, 0),
            mappings=mapped.get(c.id, {}),
            result=results.get(c.id),
            admin=principal.is_admin,
            zone=zone,
        )
        for c in page_rows
    ]
    connection = halo_routes.connection_out(db, tenant)
    return mapper_page_response(
        request,
        directory=state.directories.get(db, tenant=tenant),
        layout=halo_mapper.LAYOUT,
        tenant=tenant,
        rows=rows,
        period=chosen,
        q=q,
        chosen=filter,
        page_no=page_no,
        total=len(shown),
        filter_counts=filter_counts,
        connection=connection,
        can_preview=connection.status == halo.IntegrationStatus.CONNECTED,
        runs=runs.period_runs(db, tenant_id=tenant.id, target=halo_mapper.LAYOUT.target, period=str(chosen)),
        automap=False,
        now=state.clock(),
        admin=principal.is_admin,
        threshold=gate.threshold_for(db, tenant_id=tenant.id, target=halo_mapper.LAYOUT.target),
    )
