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

from sqlalchemy import Select, and_, func, or_, select, text
from sqlalchemy.orm import Session, aliased

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


def _latest_run_of(tenant_id: int, period: str) -> Any:
    """Per company (correlated): the newest real run of the period with a row for it. Index-driven per row
    (``ix_push_results_company``), so paging 10,000 companies never aggregates all results."""
    result = aliased(PushResult)
    return (
        select(func.max(result.run_id))
        .join(PushRun, PushRun.id == result.run_id)
        .where(
            result.tenant_id == tenant_id,
            result.company_pk == Company.id,
            PushRun.target == Target.CONNECTWISE.value,
            PushRun.period == period,
            PushRun.dry_run.is_(False),
        )
        .correlate(Company)
        .scalar_subquery()
    )


def _query(
    tenant_id: int, period: str, q: str, chosen: Filter, *, ids_only: bool = False
) -> Select[Company, CWMapping, PushResult]:
    query = select(Company, CWMapping, PushResult)
    if not (ids_only and chosen is Filter.ALL and not q.strip()):
        query = query.outerjoin(CWMapping, CWMapping.company_pk == Company.id)
    if not (ids_only and chosen in (Filter.ALL, Filter.UNMAPPED)):
        # choosing the rows of those two filters needs no push result: skip the per-row lookup
        query = query.outerjoin(
            PushResult,
            and_(
                PushResult.tenant_id == tenant_id,
                PushResult.company_pk == Company.id,
                PushResult.run_id == _latest_run_of(tenant_id, period),
            ),
        )
    query = query.where(Company.tenant_id == tenant_id, Company.archived.is_(False))
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

    The data's fingerprint is cheap (the newest status and activity event ids; events are only ever added) and read
    on every use, so a new import is seen at once. Companies without a count show 0, so new companies need none.
    """

    def __init__(self, size: int = 64) -> None:
        self._lock = threading.Lock()
        self._store: dict[tuple[int, str, str], tuple[tuple[Any, ...], dict[int, int]]] = {}
        self._size = size

    @staticmethod
    def fingerprint(session: Session, tenant: Tenant) -> tuple[Any, ...]:
        return (
            *_latest_ids(session, tenant.id, ("status_events", "activity_events")),
            tenant.billing_rule,
            tenant.time_zone,
        )

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
    """The page's rows and the total. Two steps: choose the page's company ids (sorted by name, with only the joins
    the filter needs), then read those 50 rows in full, so paging far into 10,000 companies stays cheap."""
    ids = _query(tenant.id, str(period), q, chosen, ids_only=True).with_only_columns(Company.id)
    total = session.scalar(select(func.count()).select_from(ids.subquery())) or 0
    # (name, id) follows the (tenant_id, name) index, whose entries end with the row id: no sort step
    page_ids = list(session.scalars(ids.order_by(Company.name, Company.id).offset((page - 1) * size).limit(size)))
    if not page_ids:
        return [], total
    full = (
        select(Company, CWMapping, PushResult)
        .outerjoin(CWMapping, CWMapping.company_pk == Company.id)
        .outerjoin(
            PushResult,
            and_(
                PushResult.tenant_id == tenant.id,
                PushResult.company_pk == Company.id,
                PushResult.run_id == _latest_run_of(tenant.id, str(period)),
            ),
        )
        # the ids are this tenant's already; "+ 0" keeps the planner on the primary key for the 50 look-ups
        .where(Company.id.in_(page_ids), Company.tenant_id + 0 == tenant.id)
    )
    rows: Sequence[Any] = session.execute(full.order_by(Company.name, Company.id)).all()
    return [
        MapperRow(c.id, c.company_id, c.name, counts.get(c.id, 0), mapping, result) for c, mapping, result in rows
    ], total


def _latest_ids(session: Session, tenant_id: int, tables: tuple[str, ...]) -> tuple[Any, ...]:
    """The newest row id of each table for the tenant (unary + keeps SQLite walking the primary key backwards
    instead of reading all the tenant's rows through the tenant index)."""
    parts = ", ".join(f"(SELECT id FROM {t} WHERE +tenant_id = :t ORDER BY id DESC LIMIT 1)" for t in tables)
    return tuple(session.execute(text(f"SELECT {parts}"), {"t": tenant_id}).one())


_filter_cache: dict[tuple[int, str], tuple[tuple[Any, ...], dict[Filter, int]]] = {}
_filter_lock = threading.Lock()


def filter_counts(session: Session, *, tenant: Tenant, period: BillingPeriod) -> dict[Filter, int]:
    """How many rows each filter shows (for the filter buttons); reused until a company, mapping or push result
    is added or a mapping changes (every change adds a ``cw_mapping_changes`` row)."""
    key = (tenant.id, str(period))
    mark = _latest_ids(session, tenant.id, ("companies", "cw_mapping_changes", "push_results", "push_runs"))
    with _filter_lock:
        found = _filter_cache.get(key)
    if found is not None and found[0] == mark:
        return found[1]
    out = _filter_counts(session, tenant=tenant, period=period)
    with _filter_lock:
        if len(_filter_cache) > 256:
            _filter_cache.clear()
        _filter_cache[key] = (mark, out)
    return out


def _filter_counts(session: Session, *, tenant: Tenant, period: BillingPeriod) -> dict[Filter, int]:
    out: dict[Filter, int] = {}
    for chosen in Filter:
        query = _query(tenant.id, str(period), "", chosen, ids_only=True)
        out[chosen] = (
            session.scalar(select(func.count()).select_from(query.with_only_columns(Company.id).subquery())) or 0
        )
    return out
