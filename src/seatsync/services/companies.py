"""Finding a tenant's companies (the API and the Companies page share this)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatsync.db.models import Company
from seatsync.services.directory import Directory


def search_companies(
    session: Session, *, directory: Directory, q: str | None, page: int, per_page: int
) -> tuple[int, list[Company]]:
    """One page of the directory's companies whose name or id contains ``q`` (any case), sorted by id; and how
    many match."""
    found = directory.search(directory.all_by_company_id, q)
    chosen = [e.pk for e in found[(page - 1) * per_page : page * per_page]]
    if not chosen:
        return len(found), []
    rows = {
        c.id: c
        for c in session.scalars(
            select(Company).where(Company.tenant_id == directory.tenant_id, Company.id.in_(chosen))
        )
    }
    return len(found), [rows[pk] for pk in chosen if pk in rows]
