"""Gradient MSP: connect with the partner token, disconnect, "Sync Company Accounts", the schedule."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from seatsync.connectors.gradient.client import DEFAULT_URL
from seatsync.db.models import Tenant as TenantRow
from seatsync.push.scheduler import next_scheduled_push
from seatsync.services import gradient as gradient_service
from seatsync.web.deps import (
    AdminOperator,
    CurrentOperator,
    DbSession,
    Now,
    Tenant,
    commit_on_connector_error,
    local_read,
)

router = APIRouter(prefix="/gradient", tags=["gradient"])


class GradientOut(BaseModel):
    status: str
    reason: str | None
    url: str | None = None
    organization: str | None = None
    connected_at: datetime | None = None
    checked_at: datetime | None = None
    accounts_synced_at: datetime | None = None
    next_scheduled_push: datetime | None = Field(
        None,
        description="the tenant's Gradient schedule's next push (default: the 1st of next month, 00:00 in its zone)",
    )
    note: str | None = None


class GradientConnectIn(BaseModel):
    token: str = Field(min_length=1, max_length=2000, description="the partner token generated in Synthesize")
    url: str = Field(DEFAULT_URL, max_length=300)


class SyncOut(BaseModel):
    created: int
    renamed: int
    unchanged: int
    already_present: int
    summary: str


def gradient_out(db: Session, tenant: TenantRow, at: datetime, note: str | None = None) -> GradientOut:
    row = gradient_service.get_integration(db, tenant=tenant)
    if row is None or row.status == gradient_service.ConnectionStatus.DISCONNECTED:
        return GradientOut(status=gradient_service.ConnectionStatus.DISCONNECTED.value, reason=None, note=note)
    stored = row.settings or {}
    organization = stored.get("organization") or {}
    return GradientOut(
        status=row.status,
        reason=row.status_reason,
        url=stored.get("url"),
        organization=organization.get("name") if isinstance(organization, dict) else None,
        connected_at=row.connected_at,
        checked_at=row.checked_at,
        accounts_synced_at=gradient_service.accounts_synced_at(row),
        next_scheduled_push=next_scheduled_push(db, tenant=tenant, now=at, target="gradient"),
        note=note,
    )


@router.get("")
@local_read
def get_gradient(principal: CurrentOperator, tenant: Tenant, db: DbSession, at: Now) -> GradientOut:
    """Connection health and the next scheduled push. Never the token."""
    return gradient_out(db, tenant, at)


@router.post("/connect")
def connect(body: GradientConnectIn, principal: AdminOperator, tenant: Tenant, db: DbSession, at: Now) -> GradientOut:
    """Validate the token, store it encrypted, register the services and sync the company accounts."""
    result = gradient_service.connect(db, tenant=tenant, token=body.token, url=body.url.strip() or DEFAULT_URL)
    note = None
    if result.sync is not None:
        note = f"company accounts: {result.sync.summary()}"
    if result.sync_error:
        note = f"connected, but the account sync failed: {result.sync_error}"
    return gradient_out(db, tenant, at, note)


@router.post("/disconnect")
def disconnect(principal: AdminOperator, tenant: Tenant, db: DbSession, at: Now) -> GradientOut:
    note = gradient_service.disconnect(db, tenant=tenant)
    return gradient_out(db, tenant, at, note)


@router.post("/sync-accounts")
def sync_accounts(principal: AdminOperator, tenant: Tenant, db: DbSession) -> SyncOut:
    """Send every company to Gradient as an account ("Sync Company Accounts")."""
    with commit_on_connector_error(db), gradient_service.client_for(db, tenant=tenant) as client:
        report = gradient_service.sync_accounts(db, tenant=tenant, client=client)
    return SyncOut(
        created=len(report.created),
        renamed=len(report.renamed),
        unchanged=len(report.unchanged),
        already_present=len(report.already_present),
        summary=report.summary(),
    )
