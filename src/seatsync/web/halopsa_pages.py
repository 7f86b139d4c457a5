"""The Integrations page's HaloPSA section: connect (naming each missing permission), check, disconnect (asked
first, on the page)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from seatsync.db.models import Tenant as TenantRow
from seatsync.errors import SeatsyncError
from seatsync.services import halopsa_connection as halo
from seatsync.web.deps import AdminOperator, DbSession, Now, State, Tenant
from seatsync.web.errors import status_for
from seatsync.web.pages import integrations_page

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
    flash, kind = _said(result)
    return integrations_page(request, db, tenant, halo_now, halo_result=result, flash=flash, flash_kind=kind)


@router.post("/integrations/halopsa/check")
def halopsa_check_submit(
    request: Request, principal: AdminOperator, tenant: Tenant, db: DbSession, state: State, halo_now: Now
) -> Response:
    try:
        result = halo.check_connection(db, tenant=tenant, settings=state.settings)
    except SeatsyncError as exc:
        return _failed(request, db, tenant, halo_now, exc)
    flash, kind = _said(result)
    return integrations_page(request, db, tenant, halo_now, halo_result=result, flash=flash, flash_kind=kind)


@router.post("/integrations/halopsa/disconnect")
def halopsa_disconnect_submit(
    request: Request, principal: AdminOperator, tenant: Tenant, db: DbSession, halo_now: Now
) -> Response:
    halo.disconnect(db, tenant=tenant)
    return integrations_page(
        request, db, tenant, halo_now, flash="HaloPSA disconnected: the client secret is forgotten (mappings are kept)."
    )
