"""Autotask: connection (connect, check naming each missing permission, disconnect), the mapper's choices (cached
companies, their recurring-service contracts, the contract services), mappings and auto-map suggestions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from seatsync.connectors.autotask import DEFAULT_ZONE_URL
from seatsync.db.models import PSAMapping
from seatsync.db.models import Tenant as TenantRow
from seatsync.domain.periods import time_zone
from seatsync.services import autotask_connection as at
from seatsync.services import autotask_mappings, psa_mappings
from seatsync.web.api.schemas import SavedShown, saved_shown
from seatsync.web.deps import AdminOperator, CurrentOperator, DbSession, State, Tenant, commit_on_connector_error

router = APIRouter(prefix="/autotask", tags=["autotask"])

AtId = Annotated[int, Path(ge=1, le=2_147_483_647, description="an Autotask record id")]
CompanyId = Annotated[str, Path(min_length=1, max_length=200, description="the company's id in seatsync")]
Product = Annotated[str, Field(pattern="^(|sat|phishing)$", description='"" (every product), "sat" or "phishing"')]


class PermissionOut(BaseModel):
    permission: str
    status: str
    detail: str


class ConnectionOut(BaseModel):
    status: str
    reason: str | None
    username: str | None = None
    zone_url: str | None = None
    api_base: str | None = None
    connected_at: datetime | None = None
    checked_at: datetime | None = None
    permissions: list[PermissionOut] = Field(default_factory=list)
    missing_permissions: list[str] = Field(default_factory=list)
    #: a failed check left the working credentials stored before it in place
    kept_previous: bool = False


class ConnectIn(BaseModel):
    username: str = Field(min_length=1, max_length=200, description="the API user's user name")
    secret: str = Field(min_length=1, max_length=200)
    integration_code: str = Field(min_length=1, max_length=100, description="the API tracking identifier")
    zone_url: str = Field(DEFAULT_ZONE_URL, min_length=1, max_length=300, description="where the zone is found")


def connection_out(db: Session, tenant: TenantRow, result: at.ConnectionResult | None = None) -> ConnectionOut:
    row = at.get_integration(db, tenant=tenant)
    if row is None:
        out = ConnectionOut(status=at.IntegrationStatus.DISCONNECTED.value, reason=None)
    else:
        stored = row.settings or {}
        out = ConnectionOut(
            status=row.status,
            reason=row.status_reason,
            username=stored.get("username"),
            zone_url=stored.get("zone_url"),
            api_base=stored.get("api_base"),
            connected_at=row.connected_at,
            checked_at=row.checked_at,
        )
    if result is not None:
        out.permissions = [
            PermissionOut(permission=c.setting, status=c.status.value, detail=c.detail) for c in result.checks
        ]
        out.missing_permissions = [str(p) for p in result.missing]
        out.kept_previous = result.kept_previous
        if result.kept_previous:
            out.reason = result.reason
    elif row is not None and row.status != at.IntegrationStatus.DISCONNECTED:
        stored = row.settings or {}
        out.permissions = [
            PermissionOut.model_validate(p) for p in stored.get("permissions", []) if isinstance(p, dict)
        ]
        out.missing_permissions = [str(p) for p in stored.get("missing_permissions", [])]
    return out


@router.get("")
def get_connection(principal: CurrentOperator, tenant: Tenant, db: DbSession) -> ConnectionOut:
    """The connection's health: ``connected``, ``broken`` (with the reason) or ``disconnected``. Never the secret."""
    return connection_out(db, tenant)


@router.post("/connect")
def connect(body: ConnectIn, principal: AdminOperator, tenant: Tenant, db: DbSession, state: State) -> ConnectionOut:
    """Find the zone, check the API user and each permission, and store it (secret and integration code encrypted).
    A failed check never replaces working credentials."""
    result = at.connect(
        db,
        tenant=tenant,
        username=body.username.strip(),
        secret=body.secret,
        integration_code=body.integration_code,
        zone_url=body.zone_url.strip(),
        settings=state.settings,
    )
    return connection_out(db, tenant, result)


@router.post("/check")
def check(principal: AdminOperator, tenant: Tenant, db: DbSession, state: State) -> ConnectionOut:
    """Check the stored connection again; ``missing_permissions`` names each permission to grant."""
    result = at.check_connection(db, tenant=tenant, settings=state.settings)
    return connection_out(db, tenant, result)


@router.post("/disconnect")
def disconnect(principal: AdminOperator, tenant: Tenant, db: DbSession) -> ConnectionOut:
    """Forget the secret (mappings and history are kept)."""
    at.disconnect(db, tenant=tenant)
    return connection_out(db, tenant)


class CompanyOut(BaseModel):
    id: str
    name: str
    active: bool


class RefreshOut(BaseModel):
    companies: int


class ContractOut(BaseModel):
    id: int
    name: str
    number: str | None
    active: bool


class ServiceOut(BaseModel):
    id: int
    service_id: int
    name: str


@router.get("/companies")
def companies(
    principal: CurrentOperator,
    tenant: Tenant,
    db: DbSession,
    state: State,
    q: Annotated[str, Query(max_length=200, description="part of the name")] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[CompanyOut]:
    """The searchable Autotask company choice, from the cached copy (filled on first use when connected; refresh
    it with ``POST .../refresh``)."""
    if connection_out(db, tenant).status == at.IntegrationStatus.CONNECTED.value:
        with commit_on_connector_error(db), at.client_for(db, tenant=tenant, settings=state.settings) as client:
            found = autotask_mappings.search_companies(db, tenant=tenant, query=q, limit=limit, client=client)
    else:
        found = autotask_mappings.search_companies(db, tenant=tenant, query=q, limit=limit)
    return [CompanyOut(id=c.remote_id, name=c.name, active=c.active) for c in found]


@router.post("/companies/refresh")
def refresh_companies(principal: AdminOperator, tenant: Tenant, db: DbSession, state: State) -> RefreshOut:
    """Read the tenant's Autotask companies again into the cached copy."""
    with commit_on_connector_error(db), at.client_for(db, tenant=tenant, settings=state.settings) as client:
        count = autotask_mappings.refresh_companies(db, tenant=tenant, client=client)
    return RefreshOut(companies=count)


@router.get("/companies/{at_company_id}/contracts")
def contracts(
    at_company_id: AtId, principal: CurrentOperator, tenant: Tenant, db: DbSession, state: State
) -> list[ContractOut]:
    """That company's active recurring-service contracts, live from Autotask."""
    with commit_on_connector_error(db), at.client_for(db, tenant=tenant, settings=state.settings) as client:
        found = autotask_mappings.contracts(client, at_company=at_company_id)
    return [ContractOut(id=c.id, name=c.contract_name, number=c.contract_number, active=c.active) for c in found]


@router.get("/contracts/{contract_id}/services")
def services(
    contract_id: AtId, principal: CurrentOperator, tenant: Tenant, db: DbSession, state: State
) -> list[ServiceOut]:
    """That contract's services, live from Autotask."""
    with commit_on_connector_error(db), at.client_for(db, tenant=tenant, settings=state.settings) as client:
        found = autotask_mappings.contract_services(client, contract=contract_id)
    return [ServiceOut(id=s.id, service_id=s.service_id, name=s.name) for s in found]


class MappingIn(BaseModel):
    at_company_id: int = Field(ge=1, le=2_147_483_647)
    contract_id: int | None = Field(None, ge=1, le=2_147_483_647)
    service_id: int | None = Field(
        None, ge=1, le=2_147_483_647, description="the contract service (or catalog service)"
    )
    product: Product = ""
    billed_together: bool = Field(
        False,
        description="the contract service also bills other companies: it gets their sum (otherwise a second mapping to it "
        "is refused, 409)",
    )


class MappingOut(SavedShown):
    company_id: str
    product: str
    at_company_id: str | None
    at_company_name: str | None
    contract_id: str | None
    contract_name: str | None
    service_id: str | None
    service_name: str | None
    saved_at: datetime
    saved_by: str
    last_pushed_units: float | None
    billed_together: bool = False


def mapping_out(company_id: str, m: PSAMapping, tenant: TenantRow) -> MappingOut:
    return MappingOut(
        **saved_shown(m.saved_at, time_zone(tenant.time_zone)),
        company_id=company_id,
        product=m.product,
        at_company_id=m.psa_company_id,
        at_company_name=m.psa_company_name,
        contract_id=m.contract_id,
        contract_name=m.contract_name,
        service_id=m.item_id,
        service_name=m.item_name,
        saved_at=m.saved_at,
        saved_by=m.saved_by,
        last_pushed_units=m.last_pushed_quantity,
        billed_together=m.billed_together,
    )


@router.get("/mappings/{company_id}", responses={404: {"description": "no such company"}})
def get_mapping(company_id: CompanyId, principal: CurrentOperator, tenant: Tenant, db: DbSession) -> list[MappingOut]:
    """The company's Autotask mappings (one for every product, or one per product)."""
    found = psa_mappings.get_mappings(db, tenant=tenant, target=autotask_mappings.TARGET, company_id=company_id)
    return [mapping_out(company_id, m, tenant) for _, m in sorted(found.items())]


@router.put(
    "/mappings/{company_id}", responses={404: {"description": "no such company"}, 409: {"description": "broken chain"}}
)
def put_mapping(
    company_id: CompanyId, body: MappingIn, principal: AdminOperator, tenant: Tenant, db: DbSession, state: State
) -> MappingOut:
    """Check the chain against Autotask and save it at once ("Mapping Saved")."""
    with commit_on_connector_error(db), at.client_for(db, tenant=tenant, settings=state.settings) as client:
        saved = autotask_mappings.set_mapping(
            db,
            tenant=tenant,
            company_id=company_id,
            at_company=body.at_company_id,
            contract=body.contract_id,
            service=body.service_id,
            product=body.product,
            by=principal.email,
            client=client,
            billed_together=body.billed_together,
        )
    return mapping_out(company_id, saved, tenant)


@router.delete("/mappings/{company_id}", status_code=204, responses={404: {"description": "no such company"}})
def delete_mapping(
    company_id: CompanyId,
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
    product: Annotated[str | None, Query(pattern="^(|sat|phishing)$")] = None,
) -> Response:
    """Forget the company's Autotask mapping (of one product, or every one)."""
    psa_mappings.clear_mapping(
        db, tenant=tenant, target=autotask_mappings.TARGET, company_id=company_id, product=product, by=principal.email
    )
    return Response(status_code=204)


class SuggestionOut(BaseModel):
    company_id: str
    company_name: str
    at_company_id: int
    at_company_name: str
    confidence: float
    contract_id: int | None
    contract_name: str | None
    service_id: int | None
    service_name: str | None
    note: str | None


@router.get("/suggestions")
def suggestions(principal: CurrentOperator, tenant: Tenant, db: DbSession, state: State) -> list[SuggestionOut]:
    """Auto-map: an Autotask company (and contract service when unambiguous) per company not fully mapped."""
    with commit_on_connector_error(db), at.client_for(db, tenant=tenant, settings=state.settings) as client:
        found = autotask_mappings.suggest(db, tenant=tenant, client=client)
    return [
        SuggestionOut(
            company_id=s.company_id,
            company_name=s.company_name,
            at_company_id=s.at_company_id,
            at_company_name=s.at_company_name,
            confidence=s.confidence,
            contract_id=s.contract_id,
            contract_name=s.contract_name,
            service_id=s.service_id,
            service_name=s.service_name,
            note=s.note,
        )
        for s in found
    ]


class PreviewIn(BaseModel):
    period: str | None = Field(None, pattern=r"^\d{4}-\d{2}$", description="YYYY-MM; default: the current month")


class PlannedRowOut(BaseModel):
    company_id: str
    company_name: str
    product: str
    billable: int
    before: float | None
    after: float | None
    action: str
    reason: str | None
    at_company_id: str | None
    contract_id: str | None
    service_id: str | None


class PreviewOut(BaseModel):
    period: str
    rows: list[PlannedRowOut]
    counts: dict[str, int]


@router.post("/preview")
def preview(body: PreviewIn, principal: CurrentOperator, tenant: Tenant, db: DbSession, state: State) -> PreviewOut:
    """Per company and item: the units in force on the period's first day → the billable count, and the action
    (update, unchanged, skip, blocked with why — a posted period, drift —, error). Reads only."""
    from seatsync.domain.periods import BillingPeriod
    from seatsync.targets.autotask import TARGET
    from seatsync.web.periods import current_period

    period = (
        BillingPeriod.parse(body.period)
        if body.period
        else TARGET.default_period(current_period(tenant, state.clock()))
    )
    with commit_on_connector_error(db), at.client_for(db, tenant=tenant, settings=state.settings) as client:
        planned = TARGET.plan(db, tenant=tenant, period=period, client=client)
    rows = [
        PlannedRowOut(
            company_id=r.company.company_id,
            company_name=r.company.name,
            product=r.product,
            billable=r.billable,
            before=r.before,
            after=r.after,
            action=r.action.value,
            reason=r.reason,
            at_company_id=r.item.company_id if r.item else None,
            contract_id=r.item.contract_id if r.item else None,
            service_id=r.item.item_id if r.item else None,
        )
        for r in planned
    ]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.action] = counts.get(row.action, 0) + 1
    return PreviewOut(period=str(period), rows=rows, counts=counts)
