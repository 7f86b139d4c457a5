"""Finding a tenant's companies (the API and the Companies page share this), and a company's own billing rule."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatsync.db.models import Company, Tenant
from seatsync.domain.rules import Rule
from seatsync.errors import NotFound, UserInputError
from seatsync.services.directory import Directory, Entry
from seatsync.services.tenants import parse_rule

__all__ = ["archive_company", "get_company", "search_companies", "set_company_rule"]


def search_companies(directory: Directory, *, q: str | None, page: int, per_page: int) -> tuple[int, list[Entry]]:
    """One page of the directory's companies whose name or id contains ``q`` (any case), sorted by id; and how
    many match."""
    found = directory.companies(q)
    return len(found), found[(page - 1) * per_page : page * per_page]


def get_company(session: Session, *, tenant: Tenant, company_id: str) -> Company:
    company = session.scalar(select(Company).where(Company.tenant_id == tenant.id, Company.company_id == company_id))
    if company is None:
        raise NotFound(f"no company {company_id!r} in tenant {tenant.slug!r}")
    return company


def set_company_rule(session: Session, *, tenant: Tenant, company_id: str, rule: str | Rule | None) -> Company:
    """Count the company with its own ``rule`` from now on (every period, pushes and reports included); ``None``:
    with the tenant's rule again."""
    company = get_company(session, tenant=tenant, company_id=company_id)
    company.billing_rule = None if rule is None else parse_rule(str(rule)).value
    session.flush()
    return company


def archive_company(session: Session, *, tenant: Tenant, company_id: str, at: datetime) -> Company:
    """The client left at ``at``: its period (the month ``at`` falls in) is still pushed, with its count (0 once
    nobody is billable), to its mapped items and Gradient; from the next period on it is skipped. Importing the
    company again brings it back."""
    if at.tzinfo is None:
        raise UserInputError("the archive instant needs a UTC offset (e.g. 2026-10-20T00:00:00Z)")
    company = get_company(session, tenant=tenant, company_id=company_id)
    company.archived, company.archived_at = True, at
    session.flush()
    return company
