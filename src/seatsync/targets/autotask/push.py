"""The Autotask push, as the engine (``seatsync.push.engine``) drives it: per mapped company and item, the units
of its contract service in force on the period's first day; when they differ from the billable count, one
ContractServiceAdjustment with the difference, effective that day, read back to confirm; then the billable-user
report attached to a contract note, unless a note of that period and content is already there.

Requests per item: the units and the period's seatsync notes are read ahead in batches (``in`` filters of up to
``BATCH`` ids), so a changed item costs the adjustment, its confirming read, the note and its attachment (4), and
an unchanged one whose report is already attached costs one listing of that note's attachments (a run killed
between note and attachment leaves a note without it; the listing finds that and attaches).

Crash safety: an adjustment is a delta, so it is never posted blind twice: its intent (units before and intended)
is committed first (``seatsync.push.intents``), the client reads the units back after an answer that may have been
lost, an answer that may hide the adjustment (``maybe_applied``) is settled by reading the units back, a run killed
in between is read back by the next one (``read_back``, recorded on the killed run), and a re-run reads, compares
and finds the units already right (no adjustment).
A note is found by its title (period and report hash), an attachment by its title (the report's file name).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from seatsync.connectors.autotask import AutotaskClient, ContractNote, ContractServiceUnit, where
from seatsync.db.models import PSAMapping, PushRun, Tenant
from seatsync.db.types import UTCDateTime
from seatsync.domain.items import ItemSum
from seatsync.domain.periods import BillingPeriod
from seatsync.domain.planning import Action, CompanyRef, MappingState
from seatsync.errors import (
    AuthenticationFailed,
    ConnectorError,
    PermissionDenied,
    PostedPeriod,
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
from seatsync.targets.autotask.planning import Decision, UnitsView, decide
from seatsync.targets.base import ItemKey, ItemRef, PlannedRow, PushOptions, RowResult, Scope

log = logging.getLogger(__name__)

TARGET = "autotask"
#: ids per ``in`` filter when reading ahead (Autotask caps a query's OR conditions at 500)
BATCH = 200
PRODUCT_WORDS = {"sat": "Security Awareness Training", "phishing": "Phishing Simulation"}


# -- what is pushed ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Task:
    """One company's item (``product`` ``""``: every product) with what the database knows about it."""

    company: CompanyRef
    product: str
    billable: int
    psa_company_id: str | None = None
    psa_company_name: str | None = None
    contract_id: str | None = None
    contract_name: str | None = None
    item_id: str | None = None
    item_name: str | None = None
    last_pushed: float | None = None
    mapped: bool = False
    report: Report | None = None
    prior_attempts: int = 0
    #: the companies billed together on the contract service (``seatsync.domain.items``): its units are their sum
    shared: ItemSum = field(default_factory=ItemSum)
    #: held while a contract service billed together is read and adjusted: an adjustment is a difference, so
    #: each of its rows reads the units live, after the one before, and finds the sum already there
    lock: threading.Lock | None = None

    @property
    def count(self) -> int:
        """The units the contract service gets: the company's count, or the sum billed together on it."""
        return self.shared.quantity(self.billable)

    def said(self, reason: str | None) -> str | None:
        return "; ".join(x for x in (reason, self.shared.note) if x) or None

    @property
    def complete(self) -> bool:
        return self.contract_id is not None and self.item_id is not None

    @property
    def state(self) -> MappingState:
        if self.complete:
            return MappingState.COMPLETE
        return MappingState.PARTIAL if self.mapped else MappingState.UNMAPPED

    @property
    def key(self) -> ItemKey:
        return (self.company.pk, self.product)

    @property
    def item(self) -> ItemRef:
        return ItemRef(
            self.psa_company_id,
            self.psa_company_name,
            self.contract_id,
            self.contract_name,
            self.item_id,
            self.item_name,
        )

    def skip_reason(self) -> str:
        what = f" for {PRODUCT_WORDS.get(self.product, self.product)}" if self.product else ""
        if not self.mapped:
            return f"not mapped to Autotask{what}: choose its company, contract and service in Autotask › Billing"
        if self.contract_id is None:
            return f"no recurring-service contract chosen{what}: choose one in Autotask › Billing"
        return f"no contract service chosen{what}: choose one in Autotask › Billing"


@dataclass(slots=True)
class Work:
    period: BillingPeriod
    day: date
    tasks: list[Task]
    #: contract service id -> the units row in force on ``day`` (None: no row), or why it could not be read
    units: dict[int, UnitsView | str | None] = field(default_factory=dict)
    #: contract id -> title -> note id, of the period's seatsync notes (or why they could not be read)
    notes: dict[int, dict[str, int] | str] = field(default_factory=dict)


def _billable(count: int, products: Iterable[str], product: str) -> int:
    return count if not product or product in products else 0


def load(
    session: Session,
    *,
    tenant: Tenant,
    period: BillingPeriod,
    scope: Scope | None = None,
    attempts: Mapping[ItemKey, int] | None = None,
    with_reports: bool = True,
) -> Work:
    """Counts, mappings and reports; ``scope`` limits the items."""
    counts = count_billable(session, tenant=tenant, period=period)
    mapped = psa_mappings.tenant_mappings(session, tenant_id=tenant.id, target=TARGET)
    tasks: list[Task] = []
    for c in counts:
        company = CompanyRef(c.company_pk, c.company_id, c.name)
        products = [p.value for p in c.products]
        rows = mapped.get(c.company_pk, {})
        if not rows:
            found = [Task(company, "", c.billable_users)]
        else:
            found = [
                Task(
                    company,
                    product,
                    _billable(c.billable_users, products, product),
                    m.psa_company_id,
                    m.psa_company_name,
                    m.contract_id,
                    m.contract_name,
                    m.item_id,
                    m.item_name,
                    m.last_pushed_quantity,
                    mapped=True,
                )
                for product, m in sorted(rows.items())
            ]
            if "" not in rows:
                # per-product items: a subscribed product without one is said, not silently dropped
                found += [Task(company, p, c.billable_users, mapped=True) for p in products if p not in rows]
        for task in found:
            task.prior_attempts = (attempts or {}).get(task.key, 0)
            tasks.append(task)
    _share(tasks, mapped)
    tasks = [t for t in tasks if scope is None or scope(t.key)]
    if with_reports:
        complete = [t for t in tasks if t.complete]
        users: dict[str, list[BillableUser]] = defaultdict(list)
        rules = {c.company_pk: c.rule.value for c in counts}
        pks = sorted({t.company.pk for t in complete})
        if pks:
            for user in billable_users(session, tenant=tenant, period=period, company_pks=pks):
                users[user.company_id].append(user)
        # the change since the previous period pushed to Autotask (users added, no longer counted)
        baselines = previous_pushed(session, tenant=tenant, target=TARGET, period=period, company_pks=pks)
        for t in complete:
            t.report = build_report(
                company_id=t.company.company_id,
                company_name=t.company.name,
                period=str(period),
                users=users.get(t.company.company_id, []),
                rule=rules.get(t.company.pk),
                previous=baselines.get(t.company.pk),
            )
    return Work(period, date(period.year, period.month, 1), tasks)


def _share(tasks: list[Task], mapped: dict[int, dict[str, PSAMapping]]) -> None:
    """Each task's units: its own count, or the sum of the companies billed together on its contract service."""
    label = {t.key: t.company.company_id + (f" ({t.product})" if t.product else "") for t in tasks}
    sums = psa_mappings.item_sums(mapped, ((t.company.pk, t.product, t.billable, label[t.key]) for t in tasks))
    locks: dict[str | None, threading.Lock] = {}
    for t in tasks:
        t.shared = sums[t.key]
        if t.shared.total is not None and t.shared.error is None:
            t.lock = locks.setdefault(t.item_id, threading.Lock())


# -- reading Autotask ----------------------------------------------------------------------------------------


def describe(exc: ConnectorError) -> str:
    """A reason a person can act on, never a bare status code."""
    if isinstance(exc, PermissionDenied):
        right = exc.right or "a permission this call needs"
        return f"the API user's security level lacks '{right}'; grant it in Autotask and retry"
    if isinstance(exc, RecordNotFound):
        return f"{exc.message}; choose the contract and service again in Autotask › Billing"
    if isinstance(exc, RateLimited):
        return "Autotask kept refusing requests as too many (the hourly threshold); retry the failed companies later"
    if isinstance(exc, RetriableError):
        return f"{exc.message}; retry the failed companies"
    return exc.message


def _view(row: ContractServiceUnit | None) -> UnitsView | None:
    return UnitsView(row.units, row.start_date, row.end_date, row.posted, row.service_id) if row is not None else None


def _chunks(ids: Iterable[int]) -> list[list[int]]:
    wanted = sorted(set(ids))
    return [wanted[i : i + BATCH] for i in range(0, len(wanted), BATCH)]


def _read_units(
    client: AutotaskClient, ids: Iterable[int], day: date, pool: Executor
) -> dict[int, UnitsView | str | None]:
    def read(chunk: list[int]) -> dict[int, UnitsView | str | None]:
        try:
            rows = [
                ContractServiceUnit.model_validate(r)
                for r in client.query(
                    "ContractServiceUnits",
                    [
                        where("contractServiceID", "in", chunk),
                        where("startDate", "lte", day.isoformat()),
                        where("endDate", "gte", day.isoformat()),
                    ],
                    record="contract service units",
                )
            ]
        except AuthenticationFailed:
            raise  # stops the run (the engine marks the integration broken)
        except ConnectorError as exc:
            return dict.fromkeys(chunk, describe(exc))
        found: dict[int, UnitsView | str | None] = dict.fromkeys(chunk)
        for row in sorted(rows, key=lambda r: (r.start_date, r.id)):  # the latest start is the one in force
            found[row.contract_service_id] = _view(row)
        return found

    out: dict[int, UnitsView | str | None] = {}
    for part in pool.map(read, _chunks(ids)):
        out.update(part)
    return out


def _read_notes(
    client: AutotaskClient, ids: Iterable[int], period: BillingPeriod, pool: Executor
) -> dict[int, dict[str, int] | str]:
    def read(chunk: list[int]) -> dict[int, dict[str, int] | str]:
        try:
            notes = [
                ContractNote.model_validate(n)
                for n in client.query(
                    "ContractNotes",
                    [where("contractID", "in", chunk), where("title", "contains", f" {period}: ")],
                    record="contract notes",
                )
            ]
        except AuthenticationFailed:
            raise
        except ConnectorError as exc:
            return dict.fromkeys(chunk, describe(exc))
        found: dict[int, dict[str, int] | str] = {i: {} for i in chunk}
        for note in notes:
            titles = found.setdefault(note.contract_id, {})
            if isinstance(titles, dict):
                titles.setdefault(note.title, note.id)
        return found

    out: dict[int, dict[str, int] | str] = {}
    for part in pool.map(read, _chunks(ids)):
        out.update(part)
    return out


def read_ahead(client: AutotaskClient, work: Work, pool: Executor, *, notes: bool = True) -> None:
    """The mapped items' units on the period's first day and the period's notes, in batches."""
    complete = [t for t in work.tasks if t.complete]
    work.units = _read_units(client, (int(t.item_id or 0) for t in complete), work.day, pool)
    if notes:
        work.notes = _read_notes(client, (int(t.contract_id or 0) for t in complete), work.period, pool)


def _decision(work: Work, t: Task) -> Decision | str:
    if t.shared.error is not None:
        return t.shared.error  # shared without "billed together": neither count is pushed
    found = work.units.get(int(t.item_id or 0))
    if isinstance(found, str):
        return found
    return decide(billable=t.count, day=work.day, row=found, last_pushed=t.last_pushed, period=str(work.period))


def preview_rows(client: AutotaskClient, work: Work) -> list[PlannedRow]:
    rows: list[PlannedRow] = []
    for t in work.tasks:
        if not t.complete:
            rows.append(
                PlannedRow(
                    t.company, t.product, t.billable, None, None, Action.SKIP, t.skip_reason(), t.state.value, t.item
                )
            )
            continue
        decision = _decision(work, t)
        if isinstance(decision, str):
            rows.append(
                PlannedRow(t.company, t.product, t.billable, None, None, Action.ERROR, decision, t.state.value, t.item)
            )
            continue
        rows.append(
            PlannedRow(
                t.company,
                t.product,
                t.billable,
                decision.before,
                decision.after,
                decision.action,
                t.said(decision.reason),
                t.state.value,
                t.item,
            )
        )
    return rows


# -- pushing: the engine calls these through the target ------------------------------------------------------


@dataclass(slots=True)
class Unit:
    """One mapped item of a run, with what was read ahead (shared by the run's units)."""

    task: Task
    work: Work


def _result(
    t: Task,
    outcome: Outcome,
    *,
    before: float | None = None,
    after: float | None = None,
    reason: str | None = None,
    attachment_id: int | None = None,
    note_id: int | None = None,
    confirmed: int | None = None,
    fatal: ConnectorError | None = None,
    sent: bool | None = None,
) -> RowResult:
    return RowResult(
        company=t.company,
        product=t.product,
        outcome=outcome,
        billable=t.billable,
        before=before,
        after=after,
        reason=reason,
        sent=t.complete if sent is None else sent,
        fatal=fatal,
        columns={
            "psa_company_id": t.psa_company_id,
            "contract_id": t.contract_id,
            "item_id": t.item_id,
            "document_id": attachment_id,
            "remote_id": str(note_id) if note_id is not None else None,
            "report_sha256": t.report.sha256 if t.report is not None and t.complete else None,
        },
        memo=(t.product, t.item_id, confirmed) if confirmed is not None else None,
        prior_attempts=t.prior_attempts,
    )


def local_result(t: Task) -> RowResult:
    """An item that is not (completely) mapped: nothing to read or send."""
    outcome = Outcome.NOT_MAPPED if t.state is MappingState.UNMAPPED else Outcome.SKIPPED
    return _result(t, outcome, reason=t.skip_reason(), sent=False)


def not_sent(unit: Unit, reason: str) -> RowResult:
    return _result(unit.task, Outcome.FAILED, reason=reason, sent=False)


def _note_description(t: Task, period: BillingPeriod) -> str:
    report = t.report
    assert report is not None
    return (
        f"seatsync: {report.count} billable user{'s' if report.count != 1 else ''} of {t.company.name} "
        f"({t.company.company_id}) for {period}; the list of users and why each counted is attached as "
        f"{report.filename} (SHA-256 {report.sha256})."
    )


def attach_report(client: AutotaskClient, unit: Unit) -> tuple[int, int]:
    """(note id, attachment id) of the report: found on the period's note of the same content, or added now."""
    t, work = unit.task, unit.work
    report = t.report
    assert report is not None
    contract_id = int(t.contract_id or 0)
    known = work.notes.get(contract_id)
    note_id: int | None = None
    if isinstance(known, dict):
        note_id = known.get(report.title)
    else:  # not read ahead (or the read failed): look now
        note_id = next((n.id for n in client.contract_notes(contract_id, title=report.title)), None)
    if note_id is not None:
        for attachment in client.note_attachments(note_id):
            if attachment.title == report.filename:
                return note_id, attachment.id
    else:
        note_id = client.create_contract_note(
            contract_id, title=report.title, description=_note_description(t, work.period)
        )
    attachment_id = client.attach_to_note(
        note_id, title=report.filename, filename=report.filename, content=report.content
    )
    return note_id, attachment_id


def push_one(client: AutotaskClient, unit: Unit, options: PushOptions) -> RowResult:
    """Read, compare and adjust one item's units, then attach its report (or, in a dry run, say what would be).
    A contract service billed together is read live and adjusted by one of its rows at a time."""
    t = unit.task
    if t.lock is None:
        return _push_one(client, unit, options)
    with t.lock:
        return _push_one(client, unit, options, live=True)


def _push_one(client: AutotaskClient, unit: Unit, options: PushOptions, *, live: bool = False) -> RowResult:
    t, work = unit.task, unit.work
    if not t.complete:
        return local_result(t)
    decision = _decision(work, t)
    if t.shared.error is not None:
        return _result(t, Outcome.FAILED, reason=t.shared.error, sent=False)
    if live or isinstance(decision, str):
        try:  # the batch read failed: one more try for this item alone
            found = client.units_on(contract_service_id=int(t.item_id or 0), day=work.day)
        except ConnectorError as exc:
            fatal = exc if isinstance(exc, AuthenticationFailed) else None
            return _result(t, Outcome.FAILED, reason=describe(exc), fatal=fatal)
        decision = decide(
            billable=t.count, day=work.day, row=_view(found), last_pushed=t.last_pushed, period=str(work.period)
        )
    if decision.action is Action.ERROR:
        return _result(t, Outcome.FAILED, reason=decision.reason)
    if not decision.pushes(force=options.force):
        return _result(t, Outcome.BLOCKED, before=decision.before, after=decision.before, reason=decision.reason)
    if options.dry_run:
        if decision.change == 0:
            return _result(t, Outcome.UNCHANGED, before=decision.before, after=decision.before)
        return _result(t, Outcome.PLANNED, before=decision.before, after=t.count, reason=t.said(decision.reason))
    after = decision.before
    try:
        if decision.change != 0:
            ids = {"psa_company_id": t.psa_company_id, "contract_id": t.contract_id, "item_id": t.item_id}
            intent = Intent(t.company.pk, t.product, decision.before, float(t.count), t.billable)
            intents.declare(intent.with_item({**ids, "day": work.day.isoformat()}))
            try:
                client.adjust_units(
                    contract_id=int(t.contract_id or 0),
                    contract_service_id=int(t.item_id or 0),
                    service_id=decision.service_id,
                    effective_date=work.day,
                    unit_change=decision.change,
                    expect_units=t.count,
                )
            except ConnectorError as exc:
                if not maybe_applied(exc):
                    raise
                log.info("contract service %s: answer unreadable (%s), reading back", t.item_id, exc.message)
            confirmed = client.units_on(contract_service_id=int(t.item_id or 0), day=work.day)
            after = confirmed.units if confirmed is not None else None
            if after != t.count:
                return _result(
                    t,
                    Outcome.FAILED,
                    before=decision.before,
                    after=after,
                    reason=f"Autotask shows {after} units on {work.day.isoformat()} after the adjustment, not {t.count}",
                    confirmed=after,
                )
    except PostedPeriod as exc:
        return _result(t, Outcome.BLOCKED, before=decision.before, after=decision.before, reason=exc.message)
    except ConnectorError as exc:
        fatal = exc if isinstance(exc, AuthenticationFailed) else None
        return _result(
            t, Outcome.FAILED, before=decision.before, after=decision.before, reason=describe(exc), fatal=fatal
        )
    try:
        note_id, attachment_id = attach_report(client, unit)
    except ConnectorError as exc:
        done = f"the units were set to {t.count}" if decision.change else "the units were already right"
        return _result(
            t,
            Outcome.FAILED,
            before=decision.before,
            after=after,
            reason=f"{done}, but the billing report could not be attached: {describe(exc)}",
            confirmed=after,
            fatal=exc if isinstance(exc, AuthenticationFailed) else None,
        )
    outcome = Outcome.SUCCEEDED if decision.change else Outcome.UNCHANGED
    forced = f"blocked, pushed with the override: {decision.reason}" if decision.action is Action.BLOCKED else None
    return _result(
        t,
        outcome,
        before=decision.before,
        after=after,
        reason=t.said(forced),
        attachment_id=attachment_id,
        note_id=note_id,
        confirmed=after,
    )


def read_back(client: AutotaskClient, p: Pending) -> RowResult:
    """The true result of an adjustment an interrupted run sent without recording: the units in force on the
    period's first day now. Raises ``ConnectorError`` when they cannot be read now."""
    found = client.units_on(contract_service_id=int(p.item["item_id"]), day=date.fromisoformat(str(p.item["day"])))
    holds = float(found.units) if found is not None and found.units is not None else None
    right = holds is not None and holds == p.intended
    held = "no units" if holds is None else f"{holds:g} units"
    said = f"holds {held}" + ("" if right else f", not the {p.intended:g} this run meant to set; push again")
    return RowResult(
        company=p.company,
        product=p.product,
        outcome=Outcome.SUCCEEDED if right else Outcome.FAILED,
        billable=p.billable,
        before=p.before,
        after=holds,
        reason=intents.reconciled_reason("Autotask", said + " (its report is checked by the next push)"),
        sent=True,
        columns={k: p.item.get(k) for k in ("psa_company_id", "contract_id", "item_id")},
        memo=(p.product, p.item.get("item_id"), holds) if right else None,
    )


_CONFIRM = (
    update(PSAMapping.__table__)  # type: ignore[arg-type]
    # only if the mapping still points at the contract service that was pushed
    .where(
        PSAMapping.company_pk == bindparam("b_pk"),
        PSAMapping.target == TARGET,
        PSAMapping.product == bindparam("b_product"),
        PSAMapping.item_id == bindparam("b_item"),
    )
    .values(last_pushed_quantity=bindparam("b_quantity"), last_pushed_at=bindparam("b_at", type_=UTCDateTime()))
)


def confirm(session: Session, *, run: PushRun, results: Sequence[RowResult]) -> None:
    """Remember the units seatsync set (or found right) on each mapping: the next plan's drift check."""
    if run.dry_run:
        return
    now = datetime.now(UTC)
    confirmed: list[dict[str, Any]] = [
        {"b_pk": r.company.pk, "b_product": r.memo[0], "b_item": r.memo[1], "b_quantity": r.memo[2], "b_at": now}
        for r in results
        if r.memo is not None
    ]
    if confirmed:
        session.connection().execute(_CONFIRM, confirmed)
