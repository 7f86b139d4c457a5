"""The mapper's read model: one page of companies with their mapping, billable count and latest push result.

Which companies a page shows (search, the "not mapped" filter, order, paging) comes from the tenant's company
directory (``seatsync.services.directory``, in memory while unchanged), so a tenant with 10,000 companies gets its
50 rows without reading 10,000. The push-result filters (failed, blocked, changed in ConnectWise) ask the database
which companies match; then the page's rows are read: mapping, and latest result as
``seatsync.push.runs.latest_results`` defines it (the newest real run of the period that has a row for the company).
"""

from __future__ import annotations

import enum
import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    TextClause,
    and_,
    bindparam,
    column,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session, aliased

from seatsync.db.models import Company, CWMapping, PushResult, PushRun, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.push.runs import Outcome, PeriodRuns, period_runs
from seatsync.services.billing import count_billable, own_rules
from seatsync.services.directory import Directory, DirectoryCache, Entry

PAGE_SIZE = 50


def page_shown(page_no: int, total: int) -> int:
    """The page to show when ``page_no`` is asked for among ``total`` rows: a page past the end shows the last one
    (not "No companies." under a pager that says "251–300 of 300")."""
    return min(page_no, max(1, -(-total // PAGE_SIZE)))


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

#: the filters that depend on the latest push result
RESULT_FILTERS = (Filter.FAILED, Filter.BLOCKED, Filter.DRIFT)


# The read model's rows are plain (not frozen) dataclasses: a page builds some 150 of them, and a frozen
# dataclass's ``__init__`` costs about three times a plain one's. Nothing changes them once built.
@dataclass(slots=True)
class MappingView:
    """What the mapper shows of a company's mapping."""

    cw_company_id: int | None
    cw_company_name: str | None
    agreement_id: int | None
    agreement_name: str | None
    addition_id: int | None
    addition_name: str | None
    saved_at: datetime
    saved_by: str
    #: "" = one item for all the company's products, else the product this mapping's item bills
    product: str = ""


@dataclass(slots=True)
class ResultView:
    """What the mapper shows of a company's latest push result."""

    run_id: int
    outcome: str
    reason: str | None
    quantity_before: float | None
    quantity_after: float | None
    #: the quantity the run meant to set (a failed or blocked row did not set it)
    billable: int | None = None


@dataclass(slots=True)
class MapperRow:
    company_pk: int
    company_id: str
    name: str
    billable: int
    #: the mapping for all the company's products (or, when its products are billed apart, the first of them)
    mapping: MappingView | None
    result: ResultView | None
    #: every mapping of the company: one (product "") or one per product
    mappings: tuple[MappingView, ...] = ()

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


# The statements of every page are built once, with parameters ``tenant_id``, ``period`` and ``ids``: building a
# statement costs more than running it on SQLite.

#: the real ConnectWise runs of the period (a handful a month)
_PERIOD_RUNS = select(PushRun.id).where(
    PushRun.tenant_id == bindparam("tenant_id"),
    PushRun.target == "connectwise",
    PushRun.period == bindparam("period"),
    PushRun.dry_run.is_(False),
)


def _latest_run_of() -> Any:
    """Per company (correlated): the newest real run of the period with a row for it. Index-driven per row
    (``ix_push_results_company``), so filtering 10,000 companies never aggregates all results."""
    result = aliased(PushResult)
    return (
        select(func.max(result.run_id))
        .where(
            result.tenant_id == bindparam("tenant_id"),
            result.company_pk == Company.id,
            result.run_id.in_(_PERIOD_RUNS),
        )
        .correlate(Company)
        .scalar_subquery()
    )


def _drift() -> ColumnElement[bool]:
    """The planner's drift: the addition no longer holds what seatsync last set on it."""
    return and_(
        PushResult.outcome == Outcome.BLOCKED.value,
        CWMapping.last_pushed_quantity.is_not(None),
        or_(PushResult.quantity_before.is_(None), PushResult.quantity_before != CWMapping.last_pushed_quantity),
    )


def _latest_results() -> Select[Any]:
    """Live companies joined to their latest result of the period (companies without one are left out)."""
    return (
        select(Company.id)
        .join(
            PushResult,
            and_(
                PushResult.tenant_id == bindparam("tenant_id"),
                PushResult.company_pk == Company.id,
                PushResult.run_id == _latest_run_of(),
            ),
        )
        .outerjoin(CWMapping, CWMapping.company_pk == Company.id)
        .where(Company.tenant_id == bindparam("tenant_id"), Company.archived.is_(False))
    )


_OUTCOMES = (
    _latest_results()
    .with_only_columns(Company.id, PushResult.outcome, _drift())
    .where(PushResult.outcome.in_([Outcome.FAILED.value, Outcome.BLOCKED.value]))
)
# The page's rows are looked up by parameters ``id0``, ``id1``, … (as many as whole pages hold, the last ones
# repeating the first id) rather than one expanding ``IN`` parameter, which SQLAlchemy renders into the statement
# again at every execution.
_PAGE_MAPPINGS = select(
    CWMapping.company_pk,
    CWMapping.cw_company_id,
    CWMapping.cw_company_name,
    CWMapping.agreement_id,
    CWMapping.agreement_name,
    CWMapping.addition_id,
    CWMapping.addition_name,
    CWMapping.saved_at,
    CWMapping.saved_by,
    CWMapping.product,
).where(
    # "+ 0": SQLite would otherwise walk all the tenant's mappings instead of 50 look-ups by company
    CWMapping.tenant_id + 0 == bindparam("tenant_id"),
)
_PAGE_RESULTS = select(
    PushResult.company_pk,
    PushResult.id,
    PushResult.run_id,
    PushResult.outcome,
    PushResult.reason,
    PushResult.quantity_before,
    PushResult.quantity_after,
    PushResult.billable,
).where(
    PushResult.tenant_id == bindparam("tenant_id"),
    PushResult.run_id.in_(_PERIOD_RUNS),
)


@functools.cache
def _page_statements(size: int) -> tuple[Any, Any]:
    """The mappings and the results of ``size`` companies (one pair per page size asked for)."""
    ids: list[BindParameter[int]] = [bindparam(f"id{i}", type_=Integer) for i in range(size)]
    return _PAGE_MAPPINGS.where(CWMapping.company_pk.in_(ids)), _PAGE_RESULTS.where(PushResult.company_pk.in_(ids))


@dataclass(frozen=True, slots=True)
class Outcomes:
    """The live companies in each push-result filter, for one tenant and period."""

    failed: frozenset[int]
    blocked: frozenset[int]
    drift: frozenset[int]

    def ids(self, chosen: Filter) -> frozenset[int]:
        return {Filter.FAILED: self.failed, Filter.BLOCKED: self.blocked, Filter.DRIFT: self.drift}[chosen]


def read_outcomes(session: Session, *, tenant_id: int, period: str) -> Outcomes:
    failed: set[int] = set()
    blocked: set[int] = set()
    drift: set[int] = set()
    for pk, outcome, drifted in session.execute(_OUTCOMES, {"tenant_id": tenant_id, "period": period}):
        (failed if outcome == Outcome.FAILED else blocked).add(pk)
        if drifted:
            drift.add(pk)
    return Outcomes(frozenset(failed), frozenset(blocked), frozenset(drift))


class OutcomeCache:
    """``Outcomes`` per (tenant, period), reused while nothing they depend on can have changed: the tenant's
    directory revision (companies archived, mappings changed) and the period's runs, none of them running (results
    are only written, and mappings' last pushed quantities only confirmed, by a running run). While a run of the
    period is running they are read afresh on every use."""

    def __init__(self, size: int = 256) -> None:
        self._lock = threading.Lock()
        self._store: dict[tuple[int, str], tuple[tuple[Any, ...], Outcomes]] = {}
        self._size = size

    def get(
        self, session: Session, *, directory: Directory, period: BillingPeriod, runs: PeriodRuns | None = None
    ) -> Outcomes:
        """``runs``: the period's ConnectWise runs, when the caller has read them in this request."""
        key = (directory.tenant_id, str(period))
        if runs is None:
            runs = period_runs(session, tenant_id=directory.tenant_id, target="connectwise", period=str(period))
        mark = None if runs.running is not None else (directory.revision, runs.statuses)
        with self._lock:
            found = self._store.get(key)
        if mark is not None and found is not None and found[0] == mark:
            return found[1]
        outcomes = read_outcomes(session, tenant_id=directory.tenant_id, period=str(period))
        if mark is not None:
            with self._lock:
                if len(self._store) >= self._size:
                    self._store.pop(next(iter(self._store)))
                self._store[key] = (mark, outcomes)
        return outcomes


class CountCache:
    """Billable counts per (tenant, period, rule), reused while the tenant's data is unchanged.

    The data's fingerprint is cheap (the newest status and activity event ids; events are only ever added) and read
    on every use, so a new import is seen at once; the companies' own rules come from the tenant's directory (read
    as of the tenant's revision, which any change to a rule raises). Companies without a count show 0, so new
    companies need none.
    """

    def __init__(self, size: int = 64) -> None:
        self._lock = threading.Lock()
        self._store: dict[tuple[int, str, str], tuple[tuple[Any, ...], dict[int, int]]] = {}
        self._size = size

    @staticmethod
    def fingerprint(
        session: Session,
        tenant: Tenant,
        directory: Directory | None = None,
        latest: tuple[int | None, int | None] | None = None,
    ) -> tuple[Any, ...]:
        """``latest``: the newest status and activity event ids, when the caller has read them (``_PAGE_STATE``)."""
        return (
            *(latest if latest is not None else _latest_ids(session, tenant.id, _EVENT_TABLES)),
            tenant.billing_rule,
            own_rules(session, tenant=tenant) if directory is None else directory.own_rules,
            tenant.time_zone,
        )

    def counts(
        self,
        session: Session,
        *,
        tenant: Tenant,
        period: BillingPeriod,
        directory: Directory | None = None,
        latest: tuple[int | None, int | None] | None = None,
    ) -> dict[int, int]:
        """``directory``: the tenant's, as of the tenant's revision read in this session (else the companies' own
        rules are read); ``latest`` as for ``fingerprint``."""
        key = (tenant.id, str(period), tenant.billing_rule)
        mark = self.fingerprint(session, tenant, directory, latest)
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


def page_entries(directory: Directory, outcomes: Outcomes, *, q: str = "", chosen: Filter = Filter.ALL) -> list[Entry]:
    """The companies a filter and search show, in the mapper's order (by name)."""
    if chosen is Filter.UNMAPPED:
        return directory.unmapped_rows(q)
    entries = directory.mapper_rows(q)
    if chosen in RESULT_FILTERS:
        ids = outcomes.ids(chosen)
        return [e for e in entries if e.pk in ids]
    return entries


@dataclass(frozen=True, slots=True)
class MapperPage:
    rows: list[MapperRow]
    #: how many rows the filter and search show in all
    total: int
    directory: Directory
    outcomes: Outcomes
    #: the period's ConnectWise runs (Last Push, a running run)
    runs: PeriodRuns

    def filter_counts(self) -> dict[Filter, int]:
        return filter_counts(self.directory, self.outcomes)


class MapperCaches(Protocol):
    """What the web app keeps between requests (``seatsync.web.state.AppState``)."""

    counts: CountCache
    directories: DirectoryCache
    outcomes: OutcomeCache


def mapper_page(
    session: Session,
    *,
    caches: MapperCaches,
    tenant: Tenant,
    period: BillingPeriod,
    q: str = "",
    chosen: Filter = Filter.ALL,
    page: int = 1,
    size: int = PAGE_SIZE,
) -> MapperPage:
    """One page of the mapper (the page and the API show the same)."""
    directory = caches.directories.get(session, tenant=tenant)
    state = session.connection().execute(_PAGE_STATE, {"tenant_id": tenant.id, "period": str(period)}).all()
    latest = (state[0][0], state[0][1])
    runs = PeriodRuns.of((r[2], r[3], r[4], r[5]) for r in state if r[2] is not None)
    counts = caches.counts.counts(session, tenant=tenant, period=period, directory=directory, latest=latest)
    outcomes = caches.outcomes.get(session, directory=directory, period=period, runs=runs)
    entries = page_entries(directory, outcomes, q=q, chosen=chosen)
    chosen_entries = entries[(page - 1) * size : page * size]
    rows = read_rows(session, tenant=tenant, period=period, counts=counts, entries=chosen_entries)
    return MapperPage(rows, len(entries), directory, outcomes, runs)


def read_rows(
    session: Session, *, tenant: Tenant, period: BillingPeriod, counts: dict[int, int], entries: Sequence[Entry]
) -> list[MapperRow]:
    """The full rows of a page's companies, in the given order: two indexed queries for the page."""
    if not entries:
        return []
    size = -(-len(entries) // PAGE_SIZE) * PAGE_SIZE  # a whole number of pages: a few statements in all
    pks = [e.pk for e in entries]
    params: dict[str, Any] = {f"id{i}": pk for i, pk in enumerate(pks + pks[:1] * (size - len(pks)))}
    params.update(tenant_id=tenant.id, period=str(period))
    page_mappings, page_results = _page_statements(size)
    # plain rows, no ORM objects: on the session's connection, past the ORM's loading machinery
    connection = session.connection()
    mappings: dict[int, list[MappingView]] = {}
    for pk, *fields in connection.execute(page_mappings, params):
        mappings.setdefault(pk, []).append(MappingView(*fields))
    for found in mappings.values():
        found.sort(key=lambda m: (m.product != "", m.product))  # "" first, then "phishing", "sat"
    results: dict[int, tuple[int, int, ResultView]] = {}
    for pk, result_id, run_id, outcome, reason, before, after, billable in connection.execute(page_results, params):
        if pk not in results or (run_id, result_id) > results[pk][:2]:
            results[pk] = (run_id, result_id, ResultView(run_id, outcome, reason, before, after, billable))
    return [
        MapperRow(
            e.pk,
            e.company_id,
            e.name,
            counts.get(e.pk, 0),
            mappings[e.pk][0] if e.pk in mappings else None,
            results[e.pk][2] if e.pk in results else None,
            tuple(mappings.get(e.pk, ())),
        )
        for e in entries
    ]


_EVENT_TABLES = ("status_events", "activity_events")


# the newest status and activity event ids of the tenant, as ``_latest_ids`` reads them
_NEWEST_EVENTS = (
    text(
        "SELECT "
        + ", ".join(
            f"(SELECT id FROM {name} WHERE +tenant_id = :tenant_id ORDER BY id DESC LIMIT 1) AS {name}"
            for name in _EVENT_TABLES
        )
    )
    .columns(*(column(name, Integer) for name in _EVENT_TABLES))
    .subquery("newest")
)
#: what every page asks first, in one statement: the counts' fingerprint (newest status and activity event ids)
#: and the period's real ConnectWise runs (none: one row with the fingerprint and no run)
_PAGE_STATE = select(
    *_NEWEST_EVENTS.c, PushRun.id, PushRun.status, PushRun.started_at, PushRun.finished_at
).select_from(
    _NEWEST_EVENTS.outerjoin(
        PushRun,
        and_(
            PushRun.tenant_id == bindparam("tenant_id"),
            PushRun.target == "connectwise",
            PushRun.period == bindparam("period"),
            PushRun.dry_run.is_(False),
        ),
    )
)


def _latest_ids(session: Session, tenant_id: int, tables: tuple[str, ...]) -> tuple[Any, ...]:
    """The newest row id of each table for the tenant."""
    return tuple(session.connection().execute(_latest_ids_statement(tables), {"t": tenant_id}).one())


@functools.cache
def _latest_ids_statement(tables: tuple[str, ...]) -> TextClause:
    # unary + keeps SQLite walking the primary key backwards instead of reading all the tenant's rows through the
    # tenant index
    parts = ", ".join(f"(SELECT id FROM {t} WHERE +tenant_id = :t ORDER BY id DESC LIMIT 1)" for t in tables)
    return text(f"SELECT {parts}")


def filter_counts(directory: Directory, outcomes: Outcomes) -> dict[Filter, int]:
    """How many rows each filter shows (for the filter buttons)."""
    live = directory.live_ids
    return {
        Filter.ALL: len(live),
        Filter.FAILED: len(outcomes.failed & live),
        Filter.UNMAPPED: directory.unmapped,
        Filter.BLOCKED: len(outcomes.blocked & live),
        Filter.DRIFT: len(outcomes.drift & live),
    }
