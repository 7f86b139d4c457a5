"""HaloPSA: the connection (connect, check naming each missing permission, disconnect), the mapper's choices (cached
clients, a client's subscriptions, items), mappings (client → subscription) and "Create subscription"."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from seatsync.db.models import PSAMapping
from seatsync.db.models import Tenant as TenantRow
from seatsync.domain.periods import time_zone
from seatsync.services import companies, halopsa_mappings, psa_mappings
from seatsync.services import halopsa_connection as halo
from seatsync.web.api.schemas import SavedShown, saved_shown
from seatsync.web.deps import AdminOperator, CurrentOperator, DbSession, State, Tenant, commit_on_connector_error

router = APIRouter(prefix="/halopsa", tags=["halopsa"])

HaloId = Annotated[int, Path(ge=1, le=2_147_483_647, description="a HaloPSA record id")]
CompanyId = Annotated[str, Path(min_length=1, max_length=200, description="the company's id in seatsync")]
Product = Literal["", "sat", "phishing"]


class PermissionOut(BaseModel):
    permission: str
    scope: str
    status: str
    detail: str


class ConnectionOut(BaseModel):
    status: str
    reason: str | None
    url: str | None = None
    auth_url: str | None = None
    halo_tenant: str | None = None
    client_id: str | None = None
    connected_at: datetime | None = None
    checked_at: datetime | None = None
    #: False when the check failed and the working credentials already stored were kept
    stored: bool = True
    permissions: list[PermissionOut] = Field(default_factory=list)
    missing_permissions: list[str] = Field(default_factory=list)


class ConnectIn(BaseModel):
    url: str = Field(min_length=1, max_length=300, description="e.g. https://acme.halopsa.com (the API is {url}/api)")
    client_id: str = Field(min_length=1, max_length=200)
    client_secret: str = Field(min_length=1, max_length=500)
    auth_url: str | None = Field(None, max_length=300, description="default {url}/auth")
    halo_tenant: str | None = Field(None, max_length=100, description="hosted Halo's tenant name")


class ClientOut(BaseModel):
    id: int
    name: str
    ref: str
    active: bool


class SubscriptionOut(BaseModel):
    id: int
    name: str
    count: float
    active: bool
    item_id: int | None


class ItemOut(BaseModel):
    id: int
    name: str


class MappingIn(BaseModel):
    client_id: int = Field(ge=1, le=2_147_483_647)
    licence_id: int | None = Field(None, ge=1, le=2_147_483_647, description="the subscription (software licence)")
    product: Product = ""
    billed_together: bool = Field(
        False,
        description="the subscription also bills other companies: it gets their sum (otherwise a second mapping to it "
        "is refused, 409)",
    )


class SubscriptionIn(BaseModel):
    company_id: str = Field(min_length=1, max_length=200)
    client_id: int = Field(ge=1, le=2_147_483_647)
    name: str | None = Field(
        None, min_length=1, max_length=200, description='default: the company\'s name and "Security Awareness"'
    )
    item_id: int | None = Field(None, ge=1, le=2_147_483_647)
    start_date: date | None = None
    product: Product = ""


class MappingOut(SavedShown):
    company_id: str
    product: str
    client_id: str | None
    client_name: str | None
    licence_id: str | None
    licence_name: str | None
    saved_at: datetime
    saved_by: str
    last_pushed_quantity: float | None
    billed_together: bool = False


class SuggestionOut(BaseModel):
    company_id: str
    company_name: str
    client_id: int
    client_name: str
    confidence: float
    licence_id: int | None
    licence_name: str | None
    note: str | None


def connection_out(db: Session, tenant: TenantRow, result: halo.ConnectionResult | None = None) -> ConnectionOut:
    row = halo.integration(db, tenant=tenant)
    if row is None:
        out = ConnectionOut(status=halo.IntegrationStatus.DISCONNECTED.value, reason=None)
    else:
        stored = row.settings or {}
        out = ConnectionOut(
            status=row.status,
            reason=row.status_reason,
            url=stored.get("url"),
            auth_url=stored.get("auth_url"),
            halo_tenant=stored.get("halo_tenant"),
            client_id=stored.get("client_id"),
            connected_at=row.connected_at,
            checked_at=row.checked_at,
        )
    if result is not None:
        out.stored = result.stored
        if not result.stored:
            out.reason = result.reason
        out.permissions = [
            PermissionOut(permission=c.setting, scope=c.permission.value, status=c.status.value, detail=c.detail)
            for c in result.checks
        ]
        out.missing_permissions = [p.value for p in result.missing]
    elif row is not None and row.status != halo.IntegrationStatus.DISCONNECTED:
        stored = row.settings or {}
        out.permissions = [
            PermissionOut.model_validate(p) for p in stored.get("permissions", []) if isinstance(p, dict)
        ]
        out.missing_permissions = [str(p) for p in stored.get("missing_permissions", [])]
    return out


def _mapping_out(company_id: str, m: PSAMapping, tenant: TenantRow) -> MappingOut:
    return MappingOut(
        **saved_shown(m.saved_at, time_zone(tenant.time_zone)),
        company_id=company_id,
        product=m.product,
        client_id=m.psa_company_id,
        client_name=m.psa_company_name,
        licence_id=m.item_id,
        licence_name=m.item_name,
        saved_at=m.saved_at,
        saved_by=m.saved_by,
        last_pushed_quantity=m.last_pushed_quantity,
        billed_together=m.billed_together,
    )


@router.get("")
def get_connection(principal: CurrentOperator, tenant: Tenant, db: DbSession) -> ConnectionOut:
    """The connection's health: ``connected``, ``broken`` (with the reason) or ``disconnected``. Never the secret."""
    return connection_out(db, tenant)


@router.post("/connect")
def connect(body: ConnectIn, principal: AdminOperator, tenant: Tenant, db: DbSession, state: State) -> ConnectionOut:
    """Check the API application and each permission, and store it (secret encrypted); a failed check keeps
    working credentials (``stored`` false)."""
    result = halo.connect(
        db,
        tenant=tenant,
        url=body.url.strip(),
        client_id=body.client_id,
        client_secret=body.client_secret,
        auth_url=(body.auth_url or "").strip() or None,
        halo_tenant=body.halo_tenant,
        settings=state.settings,
    )
    return connection_out(db, tenant, result)


@router.post("/check")
def check(principal: AdminOperator, tenant: Tenant, db: DbSession, state: State) -> ConnectionOut:
    """Check the stored application again; ``missing_permissions`` names each scope or agent right to grant."""
    result = halo.check_connection(db, tenant=tenant, settings=state.settings)
    return connection_out(db, tenant, result)


@router.post("/disconnect")
def disconnect(principal: AdminOperator, tenant: Tenant, db: DbSession) -> ConnectionOut:
    """Forget the client secret (mappings and history are kept)."""
    halo.disconnect(db, tenant=tenant)
    return connection_out(db, tenant)


@router.get("/clients")
def clients(
    principal: CurrentOperator,
    tenant: Tenant,
    db: DbSession,
    state: State,
    q: Annotated[str, Query(max_length=200, description="part of the name or ref")] = "",
    refresh: Annotated[bool, Query(description="read HaloPSA's clients again first")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[ClientOut]:
    """HaloPSA clients from the cached copy (filled from HaloPSA when empty, or with ``refresh``)."""
    with commit_on_connector_error(db):
        if refresh or not halopsa_mappings.has_cached_clients(db, tenant):
            with halo.client_for(db, tenant=tenant, settings=state.settings) as client:
                halopsa_mappings.refresh_clients(db, tenant=tenant, client=client)
        found = halopsa_mappings.search_clients(db, tenant=tenant, query=q, limit=limit)
    return [ClientOut(id=int(c.remote_id), name=c.name, ref=c.identifier, active=c.active) for c in found]


@router.get("/clients/{client_id}/subscriptions")
def subscriptions(
    client_id: HaloId, principal: CurrentOperator, tenant: Tenant, db: DbSession, state: State
) -> list[SubscriptionOut]:
    """The client's subscriptions (software licences), read live from HaloPSA, inactive ones included."""
    with commit_on_connector_error(db), halo.client_for(db, tenant=tenant, settings=state.settings) as client:
        found = halopsa_mappings.subscriptions(client, client_id=client_id, include_inactive=True)
    return [SubscriptionOut(id=s.id, name=s.name, count=s.count, active=s.active, item_id=s.item_id) for s in found]


@router.get("/items")
def items(principal: CurrentOperator, tenant: Tenant, db: DbSession, state: State) -> list[ItemOut]:
    """HaloPSA items a new subscription can bill."""
    with commit_on_connector_error(db), halo.client_for(db, tenant=tenant, settings=state.settings) as client:
        found = halopsa_mappings.items(client)
    return [ItemOut(id=i.id, name=i.name) for i in found]


@router.get("/mappings/{company_id}")
def get_mapping(company_id: CompanyId, principal: CurrentOperator, tenant: Tenant, db: DbSession) -> list[MappingOut]:
    """The company's HaloPSA mappings (one, or one per product)."""
    found = psa_mappings.get_mappings(db, tenant=tenant, target=halopsa_mappings.TARGET, company_id=company_id)
    return [_mapping_out(company_id, m, tenant) for _, m in sorted(found.items())]


@router.put("/mappings/{company_id}")
def put_mapping(
    company_id: CompanyId, body: MappingIn, principal: AdminOperator, tenant: Tenant, db: DbSession, state: State
) -> MappingOut:
    """Map the company to a client and (optionally) one of its subscriptions, checked against HaloPSA first."""
    with commit_on_connector_error(db), halo.client_for(db, tenant=tenant, settings=state.settings) as client:
        saved = halopsa_mappings.set_mapping(
            db,
            tenant=tenant,
            company_id=company_id,
            client_id=body.client_id,
            licence_id=body.licence_id,
            product=body.product,
            by=principal.email,
            client=client,
            billed_together=body.billed_together,
        )
    return _mapping_out(company_id, saved, tenant)


@router.delete("/mappings/{company_id}")
def delete_mapping(
    company_id: CompanyId,
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
    product: Annotated[Product | None, Query(description="only this product's mapping")] = None,
) -> dict[str, int]:
    removed = psa_mappings.clear_mapping(
        db, tenant=tenant, target=halopsa_mappings.TARGET, company_id=company_id, product=product, by=principal.email
    )
    return {"removed": removed}


class CreatedOut(MappingOut):
    #: the mapper page reads the mapping it saved here
    mapping: MappingOut


@router.post("/subscriptions", status_code=201)
def create_subscription(
    body: SubscriptionIn, principal: AdminOperator, tenant: Tenant, db: DbSession, state: State
) -> CreatedOut:
    """Create a subscription under the client (count 0 until the first push) and map the company to it."""
    company = companies.get_company(db, tenant=tenant, company_id=body.company_id)
    with commit_on_connector_error(db), halo.client_for(db, tenant=tenant, settings=state.settings) as client:
        saved = halopsa_mappings.create_subscription(
            db,
            tenant=tenant,
            company_id=body.company_id,
            client_id=body.client_id,
            name=body.name or f"{company.name} - Security Awareness",
            item_id=body.item_id,
            start_date=body.start_date,
            product=body.product,
            by=principal.email,
            client=client,
        )
    out = _mapping_out(body.company_id, saved, tenant)
    return CreatedOut(**out.model_dump(), mapping=out)


@router.get("/suggestions")
def suggestions(principal: CurrentOperator, tenant: Tenant, db: DbSession, state: State) -> list[SuggestionOut]:
    """Auto-map: a client (and its only active subscription) per company not fully mapped; nothing is saved."""
    with commit_on_connector_error(db), halo.client_for(db, tenant=tenant, settings=state.settings) as client:
        found = halopsa_mappings.suggest(db, tenant=tenant, client=client)
    return [
        SuggestionOut(
            company_id=s.company_id,
            company_name=s.company_name,
            client_id=s.client_id,
            client_name=s.client_name,
            confidence=s.confidence,
            licence_id=s.licence_id,
            licence_name=s.licence_name,
            note=s.note,
        )
        for s in found
    ]
