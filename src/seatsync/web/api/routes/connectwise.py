"""ConnectWise: connection (connect, check naming missing rights, disconnect) and the live agreement and addition
choices of the mapper."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from seatsync.config import Settings
from seatsync.connectors.connectwise import Addition, Agreement
from seatsync.db.models import CWCompany, Integration
from seatsync.db.models import Tenant as TenantRow
from seatsync.errors import NotFound, RecordNotFound
from seatsync.services import connectwise_connection as cw
from seatsync.services import mappings
from seatsync.web.deps import (
    AdminOperator,
    CurrentOperator,
    DbSession,
    State,
    Tenant,
    commit_on_connector_error,
    local_read,
)

router = APIRouter(prefix="/connectwise", tags=["connectwise"])

CwId = Annotated[int, Path(ge=1, le=2_147_483_647, description="a ConnectWise record id")]


class RightOut(BaseModel):
    right: str
    status: str
    detail: str


class ConnectionOut(BaseModel):
    status: str
    reason: str | None
    site: str | None = None
    company_id: str | None = None
    client_id: str | None = None
    connected_at: datetime | None = None
    checked_at: datetime | None = None
    rights: list[RightOut] = Field(default_factory=list)
    missing_rights: list[str] = Field(default_factory=list)


class ConnectIn(BaseModel):
    site: str = Field(min_length=1, max_length=300, description="e.g. na.myconnectwise.net, or a full URL")
    company_id: str = Field(min_length=1, max_length=100)
    public_key: str = Field(min_length=1, max_length=200)
    private_key: str = Field(min_length=1, max_length=200)
    client_id: str | None = Field(None, max_length=100)


class AgreementOut(BaseModel):
    id: int
    name: str
    type: str | None
    status: str | None
    active: bool


class AdditionOut(BaseModel):
    id: int
    name: str
    product: str | None
    quantity: float | None
    cancelled: bool


_INTEGRATION = select(Integration).where(Integration.tenant_id == bindparam("tenant_id"), Integration.kind == cw.KIND)


def integration_row(db: Session, tenant: TenantRow) -> Integration | None:
    return db.scalar(_INTEGRATION, {"tenant_id": tenant.id})


_UNREAD = Integration()  # "not read yet": ``row=None`` means there is no integration


def connection_out(
    db: Session, tenant: TenantRow, result: cw.ConnectionResult | None = None, *, row: Integration | None = _UNREAD
) -> ConnectionOut:
    if row is _UNREAD:
        row = integration_row(db, tenant)
    if row is None:
        return ConnectionOut(status=cw.IntegrationStatus.DISCONNECTED.value, reason=None)
    stored = row.settings or {}
    out = ConnectionOut(
        status=row.status,
        reason=row.status_reason,
        site=stored.get("site"),
        company_id=stored.get("company_id"),
        client_id=stored.get("client_id"),
        connected_at=row.connected_at,
        checked_at=row.checked_at,
    )
    if result is not None:
        out.rights = [RightOut(right=c.setting, status=c.status.value, detail=c.detail) for c in result.checks]
        out.missing_rights = [str(r) for r in result.missing]
    elif row.status != cw.IntegrationStatus.DISCONNECTED:
        out.rights = [RightOut.model_validate(r) for r in stored.get("rights", []) if isinstance(r, dict)]
        out.missing_rights = [str(r) for r in stored.get("missing_rights", [])]
    return out


@router.get("")
@local_read
def get_connection(principal: CurrentOperator, tenant: Tenant, db: DbSession) -> ConnectionOut:
    """The connection's health: ``connected``, ``broken`` (with the reason) or ``disconnected``. Never the keys."""
    return connection_out(db, tenant)


@router.post("/connect")
def connect(body: ConnectIn, principal: AdminOperator, tenant: Tenant, db: DbSession, state: State) -> ConnectionOut:
    """Store the credentials (keys encrypted) and check the connection and every right the integration needs."""
    result = cw.connect(
        db,
        tenant=tenant,
        site=body.site.strip(),
        company_id=body.company_id.strip(),
        public_key=body.public_key,
        private_key=body.private_key,
        client_id=body.client_id,
        settings=state.settings,
    )
    return connection_out(db, tenant, result)


@router.post("/check")
def check(principal: AdminOperator, tenant: Tenant, db: DbSession, state: State) -> ConnectionOut:
    """Check the stored connection again; ``missing_rights`` names each security-role setting to grant."""
    result = cw.check_connection(db, tenant=tenant, settings=state.settings)
    return connection_out(db, tenant, result)


@router.post("/disconnect")
def disconnect(principal: AdminOperator, tenant: Tenant, db: DbSession) -> ConnectionOut:
    cw.disconnect(db, tenant=tenant)
    return connection_out(db, tenant)


def agreement_out(a: Agreement) -> AgreementOut:
    return AgreementOut(
        id=a.id, name=a.name, type=a.type.name if a.type else None, status=a.agreement_status, active=a.active
    )


def addition_out(a: Addition) -> AdditionOut:
    product = (a.product.identifier or a.product.name) if a.product else None
    return AdditionOut(
        id=a.id, name=mappings.addition_name(a), product=product, quantity=a.quantity, cancelled=a.cancelled
    )


def list_agreements(db: Session, tenant: TenantRow, settings: Settings, cw_company_id: int) -> list[AgreementOut]:
    with commit_on_connector_error(db), cw.client_for(db, tenant=tenant, settings=settings) as client:
        agreements = mappings.cw_agreements(client, cw_company=cw_company_id)
    # active ones first: those are what a mapping should point at
    return [agreement_out(a) for a in sorted(agreements, key=lambda a: (not a.active, a.name.lower(), a.id))]


def list_additions(db: Session, tenant: TenantRow, settings: Settings, agreement_id: int) -> list[AdditionOut]:
    with commit_on_connector_error(db), cw.client_for(db, tenant=tenant, settings=settings) as client:
        try:
            additions = mappings.cw_additions(client, agreement=agreement_id)
        except RecordNotFound as exc:
            raise NotFound(f"ConnectWise has no agreement {agreement_id}") from exc
    return [addition_out(a) for a in sorted(additions, key=lambda a: (a.cancelled, a.id))]


@router.get("/companies/{cw_company_id}/agreements")
def agreements(
    cw_company_id: CwId, principal: CurrentOperator, tenant: Tenant, db: DbSession, state: State
) -> list[AgreementOut]:
    """That ConnectWise company's agreements, live from ConnectWise (active first)."""
    return list_agreements(db, tenant, state.settings, cw_company_id)


@router.get("/agreements/{agreement_id}/additions", responses={404: {"description": "no such agreement"}})
def additions(
    agreement_id: CwId, principal: CurrentOperator, tenant: Tenant, db: DbSession, state: State
) -> list[AdditionOut]:
    """That agreement's additions, live from ConnectWise (cancelled last)."""
    return list_additions(db, tenant, state.settings, agreement_id)


class CWCompanyOut(BaseModel):
    id: int
    identifier: str
    name: str
    status: str | None
    deleted: bool


class RefreshOut(BaseModel):
    companies: int


def search_cached_companies(
    db: Session, tenant: TenantRow, settings: Settings, *, q: str, limit: int
) -> list[CWCompany]:
    """Search the cached ConnectWise companies (read from ConnectWise on first use while connected)."""
    cached = db.scalar(select(CWCompany.id).where(CWCompany.tenant_id == tenant.id).limit(1))
    if cached is None and connection_out(db, tenant).status == cw.IntegrationStatus.CONNECTED.value:
        with commit_on_connector_error(db), cw.client_for(db, tenant=tenant, settings=settings) as client:
            mappings.refresh_cw_companies(db, tenant=tenant, client=client)
    return mappings.search_cw_companies(db, tenant=tenant, query=q, limit=limit)


@router.get("/companies")
@local_read
def cached_companies(
    principal: CurrentOperator,
    tenant: Tenant,
    db: DbSession,
    state: State,
    q: Annotated[str, Query(max_length=200, description="part of the name or identifier")] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[CWCompanyOut]:
    """The searchable ConnectWise company choice, from the cached copy (filled on first use; refresh it with
    ``POST .../refresh``)."""
    found = search_cached_companies(db, tenant, state.settings, q=q, limit=limit)
    return [
        CWCompanyOut(id=c.cw_id, identifier=c.identifier, name=c.name, status=c.status, deleted=c.deleted)
        for c in found
    ]


@router.post("/companies/refresh")
def refresh_companies(principal: AdminOperator, tenant: Tenant, db: DbSession, state: State) -> RefreshOut:
    """Read the tenant's ConnectWise companies again into the cached copy."""
    with commit_on_connector_error(db), cw.client_for(db, tenant=tenant, settings=state.settings) as client:
        count = mappings.refresh_cw_companies(db, tenant=tenant, client=client)
    return RefreshOut(companies=count)
