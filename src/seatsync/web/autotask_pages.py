"""The Integrations page's Autotask section: connect (naming each missing permission), check, disconnect (asked
first, on the page)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from seatsync.connectors.autotask import DEFAULT_ZONE_URL
from seatsync.db.models import Tenant as TenantRow
from seatsync.errors import SeatsyncError
from seatsync.services import autotask_connection as at
from seatsync.web.deps import AdminOperator, DbSession, Now, State, Tenant
from seatsync.web.errors import status_for
from seatsync.web.pages import integrations_page

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
    flash, kind = _said(result)
    return integrations_page(request, db, tenant, at_now, at_result=result, flash=flash, flash_kind=kind)


@router.post("/integrations/autotask/check")
def autotask_check_submit(
    request: Request, principal: AdminOperator, tenant: Tenant, db: DbSession, state: State, at_now: Now
) -> Response:
    try:
        result = at.check_connection(db, tenant=tenant, settings=state.settings)
    except SeatsyncError as exc:
        return _failed(request, db, tenant, at_now, exc)
    flash, kind = _said(result)
    return integrations_page(request, db, tenant, at_now, at_result=result, flash=flash, flash_kind=kind)


@router.post("/integrations/autotask/disconnect")
def autotask_disconnect_submit(
    request: Request, principal: AdminOperator, tenant: Tenant, db: DbSession, at_now: Now
) -> Response:
    at.disconnect(db, tenant=tenant)
    return integrations_page(
        request, db, tenant, at_now, flash="Autotask disconnected: the secret is forgotten (mappings are kept)."
    )
