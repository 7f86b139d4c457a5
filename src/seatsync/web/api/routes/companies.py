"""Companies: list and search; create or update (one, or a batch) through the importer's validation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Path, Query
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import select

from seatsync.db.models import Company
from seatsync.errors import NotFound
from seatsync.services.companies import archive_company, search_companies, set_company_rule
from seatsync.services.directory import Entry
from seatsync.services.imports import ImportKind, import_records
from seatsync.web.api.schemas import (
    Batch,
    CompanyIn,
    CompanyOut,
    CompanyPage,
    CompanyRuleIn,
    ImportOut,
    ImportProblem,
    Problem,
)
from seatsync.web.deps import AdminOperator, CurrentOperator, DbSession, State, Tenant, local_read
from seatsync.web.ingest import after_commit, import_out, numbered

router = APIRouter(prefix="/companies", tags=["companies"])

CompanyIdPath = Annotated[str, Path(min_length=1, max_length=200)]


def company_out(company: Company | Entry) -> CompanyOut:
    return CompanyOut(
        company_id=company.company_id,
        name=company.name,
        products=[p for p in company.products.split(";") if p],
        archived=company.archived,
        billing_rule=company.billing_rule,
    )


@router.get("")
@local_read
def list_companies(
    principal: CurrentOperator,
    tenant: Tenant,
    db: DbSession,
    state: State,
    q: Annotated[str | None, Query(max_length=200, description="part of the name or company id")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> CompanyPage:
    total, rows = search_companies(state.directories.get(db, tenant=tenant), q=q, page=page, per_page=per_page)
    return CompanyPage(total=total, page=page, per_page=per_page, companies=[company_out(c) for c in rows])


@router.get("/{company_id}", responses={404: {"model": ImportProblem, "description": "no such company"}})
@local_read
def get_company(company_id: CompanyIdPath, principal: CurrentOperator, tenant: Tenant, db: DbSession) -> CompanyOut:
    company = db.scalar(select(Company).where(Company.tenant_id == tenant.id, Company.company_id == company_id))
    if company is None:
        raise NotFound(f"no company {company_id!r}")
    return company_out(company)


@router.put("/{company_id}", responses={422: {"model": ImportProblem}})
def put_company(
    company_id: CompanyIdPath,
    body: CompanyIn,
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
    state: State,
    tasks: BackgroundTasks,
) -> CompanyOut:
    """Create the company or update its name and products."""
    record = {"company_id": company_id, "name": body.name}
    if body.products is not None:
        record["products"] = body.products if isinstance(body.products, str) else ";".join(body.products)
    result = import_records(db, tenant=tenant, kind=ImportKind.COMPANIES, records=[(1, record)], source="company")
    after_commit(tasks, state.engine, tenant, result)
    company = db.scalar(select(Company).where(Company.tenant_id == tenant.id, Company.company_id == company_id))
    assert company is not None
    return company_out(company)


@router.post("/batch", responses={422: {"model": ImportProblem, "description": "every bad record; nothing stored"}})
def post_companies(
    body: Batch, principal: AdminOperator, tenant: Tenant, db: DbSession, state: State, tasks: BackgroundTasks
) -> ImportOut:
    """Create or update many companies at once (all or nothing)."""
    result = import_records(
        db, tenant=tenant, kind=ImportKind.COMPANIES, records=list(numbered(body.records)), source="companies batch"
    )
    after_commit(tasks, state.engine, tenant, result)
    return import_out(result)


@router.put("/{company_id}/rule", responses={404: {"model": Problem, "description": "no such company"}})
def put_company_rule(
    company_id: CompanyIdPath, body: CompanyRuleIn, principal: AdminOperator, tenant: Tenant, db: DbSession
) -> CompanyOut:
    """Count the company with its own billing rule (``null``: with the tenant's again)."""
    return company_out(set_company_rule(db, tenant=tenant, company_id=company_id, rule=body.rule))


class ArchiveIn(BaseModel):
    at: AwareDatetime | None = Field(None, description="when the client left (default: now)")


@router.post("/{company_id}/archive", responses={404: {"model": Problem, "description": "no such company"}})
def post_archive(
    company_id: CompanyIdPath, body: ArchiveIn, principal: AdminOperator, tenant: Tenant, db: DbSession, state: State
) -> CompanyOut:
    """The client left: the period it left in is still pushed (0 once nobody is billable), later ones are not."""
    at: datetime = body.at or state.clock()
    return company_out(archive_company(db, tenant=tenant, company_id=company_id, at=at))
