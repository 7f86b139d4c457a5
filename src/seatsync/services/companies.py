"""Finding a tenant's companies (the API and the Companies page share this)."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from seatsync.db.models import Company


def escape_like(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern (escape character: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_companies(
    session: Session, *, tenant_id: int, q: str | None, page: int, per_page: int
) -> tuple[int, list[Company]]:
    """One page of companies whose name or id contains ``q`` (any case), sorted by id; and how many match."""
    query = select(Company).where(Company.tenant_id == tenant_id)
    if q:
        pattern = f"%{escape_like(q.lower())}%"
        query = query.where(
            or_(
                func.lower(Company.name).like(pattern, escape="\\"),
                func.lower(Company.company_id).like(pattern, escape="\\"),
            )
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Company.company_id).offset((page - 1) * per_page).limit(per_page))
    return total, list(rows)
