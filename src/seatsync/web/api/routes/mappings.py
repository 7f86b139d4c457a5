"""The mapper: companies with their ConnectWise mapping, billable count and Billing Status; set or clear one
mapping (saved at once, validated against ConnectWise); auto-map suggestions, accepted one by one or above a
threshold."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatsync.db.models import Company, CWMapping
from seatsync.db.models import Tenant as TenantRow
from seatsync.domain.periods import BillingPeriod, time_zone
from seatsync.push.runs import last_push
from seatsync.services import automap, mappings
from seatsync.services import connectwise_connection as cw
from seatsync.web.api.schemas import SavedShown, saved_shown
from seatsync.web.deps import (
    AdminOperator,
    CurrentOperator,
    DbSession,
    State,
    Tenant,
    commit_on_connector_error,
    local_read,
)
from seatsync.web.mapper import PAGE_SIZE, Filter, MapperRow, MappingView, mapper_page
from seatsync.web.periods import current_period

router = APIRouter(prefix="/mappings", tags=["mappings"])
automap_router = APIRouter(prefix="/automap", tags=["mappings"])
CompanyIdPath = Annotated[str, Path(min_length=1, max_length=200)]
PERIOD = r"^\d{4}-\d{2}$"
Product = Annotated[
    Literal["", "sat", "phishing"], Query(description='the mapping\'s product ("" = one addition for all products)')
]


class MappingOut(SavedShown):
    company_id: str
    name: str
    product: str = Field("", description='"" = one addition for all the company\'s products; "sat" / "phishing"')
    billed_together: bool = Field(False, description="the addition also bills other companies: it gets their sum")
    billable: int | None = None
    cw_company_id: int | None = None
    cw_company_name: str | None = None
    agreement_id: int | None = None
    agreement_name: str | None = None
    addition_id: int | None = None
    addition_name: str | None = None
    saved_at: datetime | None = None
    saved_by: str | None = None
    complete: bool = False
    status: str = Field("none", description="ok | failed | blocked | skipped | none (no push for the period yet)")
    outcome: str | None = None
    reason: str | None = None
    quantity_before: float | None = None
    quantity_after: float | None = None
    run_id: int | None = None


class MapperOut(BaseModel):
    period: str
    filter: str
    total: int
    page: int
    per_page: int
    last_push: datetime | None
    rows: list[MappingOut]


class MappingIn(BaseModel):
    cw_company_id: int = Field(ge=1, le=2_147_483_647)
    agreement_id: int | None = Field(None, ge=1, le=2_147_483_647)
    addition_id: int | None = Field(None, ge=1, le=2_147_483_647)
    product: Literal["", "sat", "phishing"] = Field(
        "", description='"" = one addition for all the company\'s products; "sat" / "phishing" = that product\'s'
    )
    billed_together: bool = Field(
        False,
        description="the addition already bills another company and these companies are billed together "
        "(it gets their sum); without it a second mapping to one addition is refused (409)",
    )


class SuggestionOut(BaseModel):
    company_id: str
    company_name: str
    cw_company_id: int
    cw_company_name: str
    confidence: float
    agreement_id: int | None
    agreement_name: str | None
    addition_id: int | None
    addition_name: str | None
    note: str | None


class AcceptIn(BaseModel):
    company_id: str = Field(min_length=1, max_length=200)
    cw_company_id: int = Field(ge=1, le=2_147_483_647)
    agreement_id: int | None = Field(None, ge=1, le=2_147_483_647)
    addition_id: int | None = Field(None, ge=1, le=2_147_483_647)


class AcceptAllIn(BaseModel):
    above: float = Field(0.9, ge=0.0, le=1.0, description="accept every suggestion at least this confident")


class AcceptAllOut(BaseModel):
    saved: int
    companies: list[str]


def mapping_fields(mapping: CWMapping | MappingView | None, zone: ZoneInfo) -> dict[str, object]:
    if mapping is None:
        return {}
    return {
        **saved_shown(mapping.saved_at, zone),
        "cw_company_id": mapping.cw_company_id,
        "cw_company_name": mapping.cw_company_name,
        "agreement_id": mapping.agreement_id,
        "agreement_name": mapping.agreement_name,
        "addition_id": mapping.addition_id,
        "addition_name": mapping.addition_name,
        "saved_at": mapping.saved_at,
        "saved_by": mapping.saved_by,
        "complete": mapping.agreement_id is not None and mapping.addition_id is not None,
        **(
            {"product": mapping.product, "billed_together": mapping.billed_together}
            if isinstance(mapping, CWMapping)
            else {}
        ),
    }


def row_out(row: MapperRow, zone: ZoneInfo) -> MappingOut:
    out = MappingOut(
        company_id=row.company_id, name=row.name, billable=row.billable, **mapping_fields(row.mapping, zone)
    )
    out.status = row.status
    if row.result is not None:
        out.outcome = row.result.outcome
        out.reason = row.result.reason
        out.quantity_before = row.result.quantity_before
        out.quantity_after = row.result.quantity_after
        out.run_id = row.result.run_id
    return out


@router.get("")
@local_read
def list_mappings(
    principal: CurrentOperator,
    tenant: Tenant,
    db: DbSession,
    state: State,
    period: Annotated[str | None, Query(pattern=PERIOD, description="default: the current month")] = None,
    q: Annotated[str, Query(max_length=200)] = "",
    filter: Filter = Filter.ALL,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> MapperOut:
    """One page (50 rows) of the mapper, searched and filtered on the server."""
    chosen = BillingPeriod.parse(period) if period else current_period(tenant, state.clock())
    shown = mapper_page(db, caches=state, tenant=tenant, period=chosen, q=q, chosen=filter, page=page)
    return MapperOut(
        period=str(chosen),
        filter=filter.value,
        total=shown.total,
        page=page,
        per_page=PAGE_SIZE,
        last_push=last_push(db, tenant_id=tenant.id, target="connectwise"),
        rows=[row_out(r, time_zone(tenant.time_zone)) for r in shown.rows],
    )


@router.put("/{company_id}", responses={404: {"description": "no such company"}, 409: {"description": "broken chain"}})
def put_mapping(
    company_id: CompanyIdPath, body: MappingIn, principal: AdminOperator, tenant: Tenant, db: DbSession, state: State
) -> MappingOut:
    """Save a mapping at once: company only, company and agreement, or all three (only these are pushed)."""
    mappings.get_mapping(db, tenant=tenant, company_id=company_id)  # 404 before any ConnectWise call
    with commit_on_connector_error(db), cw.client_for(db, tenant=tenant, settings=state.settings) as client:
        saved = mappings.set_mapping(
            db,
            tenant=tenant,
            company_id=company_id,
            cw_company=body.cw_company_id,
            agreement=body.agreement_id,
            addition=body.addition_id,
            by=principal.email,
            client=client,
            product=body.product,
            billed_together=body.billed_together,
        )
    return mapping_out(db, tenant, company_id, saved)


def mapping_out(db: Session, tenant: TenantRow, company_id: str, mapping: CWMapping | None) -> MappingOut:
    name = db.scalar(select(Company.name).where(Company.tenant_id == tenant.id, Company.company_id == company_id)) or ""
    return MappingOut(company_id=company_id, name=name, **mapping_fields(mapping, time_zone(tenant.time_zone)))


@router.get("/{company_id}", responses={404: {"description": "no such company"}})
@local_read
def get_mapping(
    company_id: CompanyIdPath, principal: CurrentOperator, tenant: Tenant, db: DbSession, product: Product = ""
) -> MappingOut:
    found = mappings.get_mapping(db, tenant=tenant, company_id=company_id, product=product)
    return mapping_out(db, tenant, company_id, found)


@router.delete("/{company_id}", status_code=204, responses={404: {"description": "no such company"}})
def delete_mapping(
    company_id: CompanyIdPath, principal: AdminOperator, tenant: Tenant, db: DbSession, product: Product = ""
) -> Response:
    """Clear the mapping (of one product with ``product``): it is no longer pushed."""
    mappings.clear_mapping(db, tenant=tenant, company_id=company_id, by=principal.email, product=product)
    return Response(status_code=204)


def suggestion_out(s: automap.Suggestion) -> SuggestionOut:
    return SuggestionOut(
        company_id=s.company_id,
        company_name=s.company_name,
        cw_company_id=s.cw_company_id,
        cw_company_name=s.cw_company_name,
        confidence=round(s.confidence, 3),
        agreement_id=s.agreement_id,
        agreement_name=s.agreement_name,
        addition_id=s.addition_id,
        addition_name=s.addition_name,
        note=s.note,
    )


@automap_router.get("/suggestions")
def suggestions(principal: CurrentOperator, tenant: Tenant, db: DbSession, state: State) -> list[SuggestionOut]:
    """Auto-map: a ConnectWise company for every company not fully mapped (fuzzy name match with a confidence),
    and its agreement and addition when unambiguous. Nothing is saved."""
    with commit_on_connector_error(db), cw.client_for(db, tenant=tenant, settings=state.settings) as client:
        found = automap.suggest(db, tenant=tenant, client=client)
    return [suggestion_out(s) for s in found]


@automap_router.post("/accept", responses={404: {"description": "no such company"}})
def accept(body: AcceptIn, principal: AdminOperator, tenant: Tenant, db: DbSession, state: State) -> MappingOut:
    """Accept one suggestion (saved like any mapping, validated against ConnectWise)."""
    mappings.get_mapping(db, tenant=tenant, company_id=body.company_id)  # 404 before any ConnectWise call
    with commit_on_connector_error(db), cw.client_for(db, tenant=tenant, settings=state.settings) as client:
        saved = mappings.set_mapping(
            db,
            tenant=tenant,
            company_id=body.company_id,
            cw_company=body.cw_company_id,
            agreement=body.agreement_id,
            addition=body.addition_id,
            by=principal.email,
            client=client,
        )
    return mapping_out(db, tenant, body.company_id, saved)


@automap_router.post("/accept-all")
def accept_all(
    body: AcceptAllIn, principal: AdminOperator, tenant: Tenant, db: DbSession, state: State
) -> AcceptAllOut:
    """Accept every current suggestion whose confidence is at least ``above``."""
    with commit_on_connector_error(db), cw.client_for(db, tenant=tenant, settings=state.settings) as client:
        found = automap.suggest(db, tenant=tenant, client=client)
        saved = automap.accept_all(
            db, tenant=tenant, suggestions=found, above=body.above, by=principal.email, client=client
        )
    return AcceptAllOut(saved=len(saved), companies=[s.company_id for s in saved])
