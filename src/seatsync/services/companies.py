"""Finding a tenant's companies (the API and the Companies page share this), and a company's own billing rule."""

from __future__ import annotations

import threading
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from seatsync.db.models import Company, StatusEvent, Tenant
from seatsync.domain.rules import Rule
from seatsync.errors import NotFound, UserInputError
from seatsync.services.directory import Directory, Entry
from seatsync.services.tenants import parse_rule

__all__ = ["FirstSeenCache", "archive_company", "first_events", "get_company", "search_companies", "set_company_rule"]


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


def first_events(session: Session, *, tenant_id: int) -> dict[int, datetime]:
    """The earliest status change of each company of the tenant (one pass over the count index)."""
    query = (
        select(StatusEvent.company_pk, func.min(StatusEvent.at))
        .where(StatusEvent.tenant_id == tenant_id)
        .group_by(StatusEvent.company_pk)
    )
    return {pk: at for pk, at in session.execute(query).all()}  # noqa: C416 - rows, typed as pairs


class FirstSeenCache:
    """Each company's first instant in the data (the Companies page's "Since"): its users' earliest status
    change, else, without users yet, when the company was imported. The tenant's earliest changes are reused
    while its newest status change is the same (events are only ever added), so a page does not read every event
    of the tenant each time."""

    def __init__(self, size: int = 64) -> None:
        self._lock = threading.Lock()
        self._store: dict[int, tuple[object, dict[int, datetime]]] = {}
        self._size = size

    def get(self, session: Session, *, tenant_id: int, company_pks: Collection[int]) -> dict[int, datetime]:
        if not company_pks:
            return {}
        mark = session.execute(
            # unary +: SQLite walks the primary key backwards instead of all the tenant's rows
            text("SELECT id FROM status_events WHERE +tenant_id = :t ORDER BY id DESC LIMIT 1"),
            {"t": tenant_id},
        ).scalar()
        with self._lock:
            found = self._store.get(tenant_id)
        if found is None or found[0] != mark:
            found = (mark, first_events(session, tenant_id=tenant_id))
            with self._lock:
                if len(self._store) >= self._size and tenant_id not in self._store:
                    self._store.pop(next(iter(self._store)))
                self._store[tenant_id] = found
        events = found[1]
        created = session.execute(
            select(Company.id, Company.created_at).where(Company.tenant_id == tenant_id, Company.id.in_(company_pks))
        ).all()
        return {pk: min(events[pk], at) if pk in events else at for pk, at in created}
