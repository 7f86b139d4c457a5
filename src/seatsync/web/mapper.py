"""The mapper's read model: one page of companies with their mapping, billable count and latest push result.

Search, filters and paging run in SQL so that a tenant with 10,000 companies gets its 50 rows quickly. The
"latest result" is the one ``seatsync.push.runs.latest_results`` defines (newest real run of the period that
has a row for the company), expressed as a subquery so that the filters can use it.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from seatsync.db.models import Company, CWMapping, PushResult, PushRun, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.push.runs import Outcome, Target
from seatsync.services.billing import count_billable
from seatsync.services.companies import escape_like

PAGE_SIZE = 50


class Filter(enum.StrEnum):
    ALL = "all"
    FAILED = "failed"
    UNMAPPED = "unmapped"
    BLOCKED = "blocked"
    DRIFT = "drift"


FILTER_LABELS = {
    Filter.ALL: "All",
    Filter.FAILED: "Failed",
    Filter.UNMAPPED: "Not mapped",
    Filter.BLOCKED: "Blocked",
    Filter.DRIFT: "Changed in ConnectWise",
}


@dataclass(frozen=True, slots=True)
class MapperRow:
    company_pk: int
    company_id: str
    name: str
    billable: int
    mapping: CWMapping | None
    result: PushResult | None

    @property
    def complete(self) -> bool:
        return (
            self.mapping is not None and self.mapping.agreement_id is not None and self.mapping.addition_id is not None
        )

    @property
    def status(self) -> str:
        """ok | failed | blocked | skipped | none — what the ✓/✗ column shows."""
        if self.result is None:
            return "none"
        outcome = self.result.outcome
        if outcome in (Outcome.SUCCEEDED, Outcome.UNCHANGED):
            return "ok"
        if outcome == Outcome.FAILED:
            return "failed"
        if outcome == Outcome.BLOCKED:
            return "blocked"
        return "skipped"


def _latest_results(tenant_id: int, period: str) -> Any:
    newest = (
        select(PushResult.company_pk, func.max(PushResult.run_id).label("run_id"))
        .join(PushRun, PushRun.id == PushResult.run_id)
        .where(
            PushRun.tenant_id == tenant_id,
            PushRun.target == Target.CONNECTWISE.value,
            PushRun.period == period,
            PushRun.dry_run.is_(False),
        )
        .group_by(PushResult.company_pk)
        .subquery("newest")
    )
    return newest


def _query(tenant_id: int, period: str, q: str, chosen: Filter) -> Select[Company, CWMapping, PushResult]:
    newest = _latest_results(tenant_id, period)
    query = (
        select(Company, CWMapping, PushResult)
        .outerjoin(CWMapping, CWMapping.company_pk == Company.id)
        .outerjoin(newest, newest.c.company_pk == Company.id)
        .outerjoin(PushResult, and_(PushResult.company_pk == Company.id, PushResult.run_id == newest.c.run_id))
        .where(Company.tenant_id == tenant_id, Company.archived.is_(False))
    )
    if q.strip():
        pattern = f"%{escape_like(q.strip().lower())}%"
        query = query.where(
            or_(
                func.lower(Company.name).like(pattern, escape="\\"),
                func.lower(Company.company_id).like(pattern, escape="\\"),
                func.lower(CWMapping.cw_company_name).like(pattern, escape="\\"),
            )
        )
    if chosen is Filter.FAILED:
        query = query.where(PushResult.outcome == Outcome.FAILED.value)
    elif chosen is Filter.UNMAPPED:
        query = query.where(
            or_(CWMapping.id.is_(None), CWMapping.agreement_id.is_(None), CWMapping.addition_id.is_(None))
        )
    elif chosen is Filter.BLOCKED:
        query = query.where(PushResult.outcome == Outcome.BLOCKED.value)
    elif chosen is Filter.DRIFT:
        # the planner's drift: the addition no longer holds what seatsync last set on it
        query = query.where(
            PushResult.outcome == Outcome.BLOCKED.value,
            CWMapping.last_pushed_quantity.is_not(None),
            or_(PushResult.quantity_before.is_(None), PushResult.quantity_before != CWMapping.last_pushed_quantity),
        )
    return query


class CountCache:
    """Billable counts per (tenant, period, rule), reused while the tenant's data is unchanged.

    The data's fingerprint is cheap (largest event and company ids and their counts) and read on every use, so a
    new import is seen at once.
    """

    def __init__(self, size: int = 64) -> None:
        self._lock = threading.Lock()
        self._store: dict[tuple[int, str, str], tuple[tuple[Any, ...], dict[int, int]]] = {}
        self._size = size

    @staticmethod
    def fingerprint(session: Session, tenant: Tenant) -> tuple[Any, ...]:
        from sqlalchemy import text

        row = session.execute(
            text(
                "SELECT (SELECT MAX(id) FROM status_events WHERE tenant_id = :t),"
                " (SELECT MAX(id) FROM activity_events WHERE tenant_id = :t),"
                " (SELECT COUNT(*) FROM companies WHERE tenant_id = :t),"
                " (SELECT MAX(updated_at) FROM companies WHERE tenant_id = :t)"
            ),
            {"t": tenant.id},
        ).one()
        return (*tuple(row), tenant.billing_rule, tenant.time_zone)

    def counts(self, session: Session, *, tenant: Tenant, period: BillingPeriod) -> dict[int, int]:
        key = (tenant.id, str(period), tenant.billing_rule)
        mark = self.fingerprint(session, tenant)
        with self._lock:
            found = self._store.get(key)
        if found is not None and found[0] == mark:
            return found[1]
        counts = {c.company_pk: c.billable_users for c in count_billable(session, tenant=tenant, period=period)}
        with self._lock:
            if len(self._store) >= self._size:
                self._store.pop(next(iter(self._store)))
            self._store[key] = (mark, counts)
        return counts


def mapper_page(
    session: Session,
    *,
    tenant: Tenant,
    period: BillingPeriod,
    counts: dict[int, int],
    q: str = "",
    chosen: Filter = Filter.ALL,
    page: int = 1,
    size: int = PAGE_SIZE,
) -> tuple[list[MapperRow], int]:
    query = _query(tenant.id, str(period), q, chosen)
    total = session.scalar(select(func.count()).select_from(query.with_only_columns(Company.id).subquery())) or 0
    rows: Sequence[Any] = session.execute(
        query.order_by(Company.name, Company.company_id).offset((page - 1) * size).limit(size)
    ).all()
    return [
        MapperRow(c.id, c.company_id, c.name, counts.get(c.id, 0), mapping, result) for c, mapping, result in rows
    ], total


def filter_counts(session: Session, *, tenant: Tenant, period: BillingPeriod) -> dict[Filter, int]:
    """How many rows each filter shows (for the filter buttons)."""
    out: dict[Filter, int] = {}
    for chosen in Filter:
        query = _query(tenant.id, str(period), "", chosen)
        out[chosen] = (
            session.scalar(select(func.count()).select_from(query.with_only_columns(Company.id).subquery())) or 0
        )
    return out
