"""The HaloPSA push, as the engine (``seatsync.push.engine``) drives it: per mapped company (and product), read
the subscription, plan, and when the count differs POST the changed record alone (id, client, name, the absolute
count and the evidence line in its notes), then read it back to confirm; the engine records the outcome.

    rows = preview(session, tenant=t, period=p, client=halo)           # reads only

Requests per item: an unchanged subscription costs one read; a changed one a read, one POST and a read back (3).
Crash safety: the count is absolute and the notes line is per period, so a POST repeated after a lost answer (or
a run killed after it) changes nothing more; re-running reads the count already right and posts nothing.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from seatsync.connectors.halopsa import HaloPSAClient, SoftwareLicence, licence_update
from seatsync.db.models import PSAMapping, PushRun, Tenant
from seatsync.db.types import UTCDateTime
from seatsync.domain.items import ItemSum
from seatsync.domain.periods import BillingPeriod
from seatsync.domain.planning import Action, CompanyRef, MappingState
from seatsync.errors import (
    AuthenticationFailed,
    ConnectorError,
    RateLimited,
    RecordNotFound,
    RetriableError,
    maybe_applied,
)
from seatsync.push import intents
from seatsync.push.intents import Intent, Pending
from seatsync.push.reports import Report, build_report, previous_pushed
from seatsync.push.runs import Outcome
from seatsync.services import psa_mappings
from seatsync.services.billing import BillableUser, billable_users, count_billable
from seatsync.targets.base import ItemKey, ItemRef, PlannedRow, PushOptions, RowResult, Scope
from seatsync.targets.halopsa.notes import evidence_line, with_evidence
from seatsync.targets.halopsa.planning import LicenceMapping, LicencePlan, LicenceView, plan_licence

log = logging.getLogger(__name__)
TARGET = "halopsa"

__all__ = ["Task", "describe", "load", "local_result", "not_sent", "preview", "push_one", "record"]


@dataclass(slots=True)
class Task:
    """One item to consider: a company (and product), its count, its mapping and its report."""

    company: CompanyRef
    product: str
    billable: int
    mapping: LicenceMapping | None
    period: str
    report: Report | None = None
    prior_attempts: int = 0
    #: the companies billed together on the subscription (``seatsync.domain.items``): its count is their sum
    shared: ItemSum = field(default_factory=ItemSum)
    #: held while a subscription billed together is read and set (a shared one is set by one row at a time)
    lock: threading.Lock | None = None

    @property
    def complete(self) -> bool:
        return self.mapping is not None and self.mapping.state is MappingState.COMPLETE

    @property
    def count(self) -> int:
        """What the subscription gets: the company's count, or the sum of the companies billed together on it."""
        return self.shared.quantity(self.billable)

    @property
    def key(self) -> ItemKey:
        return (self.company.pk, self.product)


def _mapping(m: PSAMapping) -> LicenceMapping:
    return LicenceMapping(
        int(m.psa_company_id) if m.psa_company_id else None,
        int(m.item_id) if m.item_id else None,
        m.last_pushed_quantity,
        m.psa_company_name,
        m.item_name,
    )


def load(
    session: Session,
    *,
    tenant: Tenant,
    period: BillingPeriod,
    scope: Scope | None = None,
    attempts: dict[ItemKey, int] | None = None,
) -> list[Task]:
    """Every company's items: one per mapped product (``""``: all its products), or one unmapped row."""
    mapped = psa_mappings.tenant_mappings(session, tenant_id=tenant.id, target=TARGET)
    tasks: list[Task] = []
    rules: dict[int, str] = {}
    for c in count_billable(session, tenant=tenant, period=period):
        company = CompanyRef(c.company_pk, c.company_id, c.name)
        rules[c.company_pk] = c.rule.value
        products = {p.value for p in c.products}
        rows: dict[str, PSAMapping | None] = {**mapped.get(c.company_pk, {})} or {"": None}
        for product, m in sorted(rows.items()):
            # a product's own item bills that product's users; the company's item bills its users once
            billable = c.billable_users if product == "" or product in products else 0
            tasks.append(
                Task(
                    company,
                    product,
                    billable,
                    _mapping(m) if m is not None else None,
                    str(period),
                    prior_attempts=(attempts or {}).get((c.company_pk, product), 0),
                )
            )
    _share(tasks, mapped)
    tasks = [t for t in tasks if scope is None or scope(t.key)]
    complete = [t for t in tasks if t.complete]
    if complete:
        users: dict[str, list[BillableUser]] = defaultdict(list)
        pks = sorted({t.company.pk for t in complete})
        for user in billable_users(session, tenant=tenant, period=period, company_pks=pks):
            users[user.company_id].append(user)
        previous = {
            product: previous_pushed(
                session,
                tenant=tenant,
                target=TARGET,
                period=period,
                company_pks=[t.company.pk for t in complete if t.product == product],
                product=product,
            )
            for product in {t.product for t in complete}
        }
        for t in complete:
            t.report = build_report(
                company_id=t.company.company_id,
                company_name=t.company.name,
                period=str(period),
                users=users.get(t.company.company_id, []),
                rule=rules.get(t.company.pk),
                previous=previous[t.product].get(t.company.pk),
            )
    return tasks


def _share(tasks: list[Task], mapped: dict[int, dict[str, PSAMapping]]) -> None:
    """Each task's subscription count: its own, or the sum of the companies billed together on it."""
    label = {t.key: t.company.company_id + (f" ({t.product})" if t.product else "") for t in tasks}
    sums = psa_mappings.item_sums(mapped, ((t.company.pk, t.product, t.billable, label[t.key]) for t in tasks))
    locks: dict[int | None, threading.Lock] = {}
    for t in tasks:
        t.shared = sums[t.key]
        if t.shared.total is not None and t.mapping is not None:
            t.lock = locks.setdefault(t.mapping.licence_id, threading.Lock())


def describe(exc: ConnectorError, *, licence_id: int | None = None) -> str:
    """A reason a person can act on, never a bare status code."""
    if isinstance(exc, RecordNotFound) and licence_id is not None:
        return f"subscription {licence_id} no longer exists in HaloPSA; choose or create another in the mapper"
    if isinstance(exc, RateLimited):
        return "HaloPSA kept refusing requests as too many (its rate limit); retry the failed companies later"
    if isinstance(exc, RetriableError):
        return f"{exc.message}; retry the failed companies"
    return exc.message


def _view(licence: SoftwareLicence) -> LicenceView:
    return LicenceView(licence.id, licence.client_id, licence.count, licence.active, licence.name, licence.notes)


def _read(client: HaloPSAClient, t: Task) -> tuple[SoftwareLicence | None, str | None, ConnectorError | None]:
    assert t.mapping is not None
    assert t.mapping.licence_id is not None
    try:
        return client.get_licence(t.mapping.licence_id), None, None
    except RecordNotFound:
        return None, None, None
    except ConnectorError as exc:
        return None, describe(exc, licence_id=t.mapping.licence_id), exc


def _plan(t: Task, licence: SoftwareLicence | None, error: str | None) -> LicencePlan:
    if t.complete and t.shared.error is not None:
        error = t.shared.error  # shared without "billed together": neither count is pushed
    return plan_licence(
        company=t.company,
        product=t.product,
        billable=t.count,
        mapping=t.mapping,
        licence=_view(licence) if licence is not None else None,
        read_error=error,
    )


def _result(
    t: Task,
    plan: LicencePlan,
    outcome: Outcome,
    *,
    after: float | None = None,
    reason: str | None = None,
    confirmed: float | None = None,
    fatal: ConnectorError | None = None,
) -> RowResult:
    m = t.mapping
    return RowResult(
        company=t.company,
        product=t.product,
        outcome=outcome,
        billable=t.billable,
        before=plan.current,
        after=after,
        reason=reason,
        sent=t.complete,
        fatal=fatal,
        columns={
            "psa_company_id": str(m.client_id) if m is not None and m.client_id is not None else None,
            "item_id": str(m.licence_id) if m is not None and m.licence_id is not None else None,
            "report_sha256": t.report.sha256 if t.report is not None and t.complete else None,
        },
        memo=(m.licence_id, confirmed) if m is not None and confirmed is not None else None,
        prior_attempts=t.prior_attempts,
    )


def local_result(t: Task) -> RowResult:
    """An item that is not (completely) mapped: nothing to read or send."""
    plan = _plan(t, None, None)
    outcome = Outcome.NOT_MAPPED if plan.mapping_state is MappingState.UNMAPPED else Outcome.SKIPPED
    return _result(t, plan, outcome, reason=plan.reason)


def not_sent(t: Task, reason: str) -> RowResult:
    return _result(t, _plan(t, None, None), Outcome.FAILED, reason=reason)


def push_one(client: HaloPSAClient, t: Task, options: PushOptions) -> RowResult:
    """Read, compare, set one subscription's count (or, in a dry run, say what would be set). A subscription
    billed together is read and set by one of its rows at a time: the next finds the sum already there."""
    if t.lock is None:
        return _push_one(client, t, options)
    with t.lock:
        return _push_one(client, t, options)


def _push_one(client: HaloPSAClient, t: Task, options: PushOptions) -> RowResult:
    licence, error, failure = _read(client, t)
    plan = _plan(t, licence, error)
    fatal = failure if isinstance(failure, AuthenticationFailed) else None
    if plan.action is Action.ERROR:
        return _result(t, plan, Outcome.FAILED, reason=plan.reason, fatal=fatal)
    if plan.action is Action.SKIP:
        return local_result(t)
    if not plan.pushes(force=options.force):
        return _result(t, plan, Outcome.BLOCKED, reason=plan.reason)
    assert licence is not None
    assert t.report is not None
    if plan.action is Action.UNCHANGED:
        # an unchanged subscription gets no write; the count found right is remembered (the next drift check)
        return _result(t, plan, Outcome.UNCHANGED, after=licence.count, confirmed=licence.count)
    if options.dry_run:
        return _result(t, plan, Outcome.PLANNED, after=t.count, reason=_said(plan.reason, t))
    line = evidence_line(period=t.period, count=t.count, sha256=t.report.sha256, members=t.shared.members)
    ids = {"psa_company_id": str(licence.client_id) if licence.client_id is not None else None}
    intent = Intent(t.company.pk, t.product, plan.current, float(t.count), t.billable, t.report.sha256)
    intents.declare(intent.with_item({**ids, "item_id": str(licence.id)}))
    try:
        try:
            change = licence_update(licence, count=t.count, notes=with_evidence(licence.notes, line))
            client.upsert_licences([change])
        except ConnectorError as exc:
            if not maybe_applied(exc):
                raise
            log.info("subscription %s: answer unreadable (%s), reading back", licence.id, exc.message)
        after = client.get_licence(licence.id)  # the count HaloPSA holds, whatever its answer said
    except ConnectorError as exc:
        fatal = exc if isinstance(exc, AuthenticationFailed) else None
        return _result(
            t, plan, Outcome.FAILED, after=plan.current, reason=describe(exc, licence_id=licence.id), fatal=fatal
        )
    if after.count != t.count:
        return _result(
            t,
            plan,
            Outcome.FAILED,
            after=after.count,
            reason=f"HaloPSA accepted the count {t.count} but the subscription reads {after.quantity}; check it in HaloPSA",
        )
    forced = f"blocked, pushed with the override: {plan.reason}" if plan.action is Action.BLOCKED else None
    return _result(t, plan, Outcome.SUCCEEDED, after=after.count, reason=_said(forced, t), confirmed=after.count)


def _said(reason: str | None, t: Task) -> str | None:
    """The row's reason with the sum it set, for a subscription billed together."""
    return "; ".join(x for x in (reason, t.shared.note) if x) or None


def read_back(client: HaloPSAClient, p: Pending) -> RowResult:
    """The true result of a count an interrupted run sent without recording: what the subscription holds now.
    Raises ``ConnectorError`` when it cannot be read now."""
    licence_id = int(p.item["item_id"])
    holds = client.get_licence(licence_id).count
    right = holds is not None and float(holds) == p.intended
    said = f"holds {holds}" + ("" if right else f", not the {p.intended:g} this run meant to set; push again")
    return RowResult(
        company=p.company,
        product=p.product,
        outcome=Outcome.SUCCEEDED if right else Outcome.FAILED,
        billable=p.billable,
        before=p.before,
        after=float(holds) if holds is not None else None,
        reason=intents.reconciled_reason("HaloPSA", said),
        sent=True,
        columns={**p.item, "report_sha256": p.report_sha256},
        memo=(licence_id, holds) if right else None,
    )


def preview(
    session: Session, *, tenant: Tenant, period: BillingPeriod, client: HaloPSAClient, pool: Executor | None = None
) -> list[PlannedRow]:
    """Every company's item, before → after, action and reason; reads HaloPSA, changes nothing."""
    tasks = load(session, tenant=tenant, period=period)

    def planned(t: Task) -> PlannedRow:
        plan = _plan(t, *_read(client, t)[:2]) if t.complete else _plan(t, None, None)
        m = t.mapping
        return PlannedRow(
            company=t.company,
            product=t.product,
            billable=t.billable,
            before=plan.current,
            after=float(plan.proposed) if plan.proposed is not None else None,
            action=plan.action,
            reason=_said(plan.reason, t),
            mapping=plan.mapping_state.value,
            item=ItemRef(
                company_id=str(m.client_id) if m and m.client_id is not None else None,
                company_name=m.client_name if m else None,
                item_id=str(m.licence_id) if m and m.licence_id is not None else None,
                item_name=m.licence_name if m else None,
            ),
        )

    return list(pool.map(planned, tasks)) if pool is not None else [planned(t) for t in tasks]


_CONFIRM = (
    update(PSAMapping.__table__)  # type: ignore[arg-type]
    # only if the mapping still points at the subscription that was pushed
    .where(
        PSAMapping.company_pk == bindparam("b_pk"),
        PSAMapping.target == TARGET,
        PSAMapping.product == bindparam("b_product"),
        PSAMapping.item_id == bindparam("b_item"),
    )
    .values(last_pushed_quantity=bindparam("b_quantity"), last_pushed_at=bindparam("b_at", type_=UTCDateTime()))
)


def record(session: Session, *, run: PushRun, results: Sequence[RowResult]) -> None:
    """Remember the count seatsync set (or found right) on each mapping: the next plan's drift check."""
    if run.dry_run:
        return
    now = datetime.now(UTC)
    confirmed: list[dict[str, Any]] = [
        {
            "b_pk": r.company.pk,
            "b_product": r.product or "",
            "b_item": str(r.memo[0]),
            "b_quantity": r.memo[1],
            "b_at": now,
        }
        for r in results
        if r.memo is not None
    ]
    if confirmed:
        session.connection().execute(_CONFIRM, confirmed)
