"""The ConnectWise push, as the engine (``seatsync.push.engine``) drives it: per mapped company, read the
addition, plan, set the quantity when it differs, attach the evidence report unless an identical one is already
on the agreement; the engine records the outcome.

    plan = preview(session, tenant=t, period=p, client=client)             # reads only

Requests per company: one addition read; agreements are read in batches (``id in (...)``); a changed
quantity adds one PATCH; a report not recorded as attached adds an upload, preceded by a documents listing
only when an earlier run of the period declared an upload for the company without recording a document (a
killed run, an unreadable answer), or another report of the period is attached. So a changed company costs 3
requests (4 after a crash) and an unchanged one whose report is recorded costs 1.

Crash safety: before its first write a company's intent (before, intended, report hash, the addition) is
committed (``seatsync.push.intents``); its result is written after the remote effect. An answer that may hide a
change (``maybe_applied``: HTML or JSON without the fields on a 2xx, a 5xx, a lost answer) is never taken as a
failure as it stands: the addition is read back, and the report looked for by the hash in its title, before
anything is sent again, and the result says what ConnectWise holds. An interrupted run is detected at the next
start (``seatsync.push.runs``), which reads its pending intents back and records their true before → after on
it (``read_back``); re-running reads, compares and finds the quantity already set (no PATCH) and the report
already attached (no second upload).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from seatsync.config import get_settings
from seatsync.connectors.connectwise.api import ConnectWiseApi
from seatsync.connectors.connectwise.conditions import where
from seatsync.connectors.connectwise.models import Addition, Agreement
from seatsync.db.models import Company, CWMapping, PushResult, PushRun, Tenant
from seatsync.db.types import UTCDateTime
from seatsync.domain.invoicing import parse_invoice_date
from seatsync.domain.items import ItemShare, quantities
from seatsync.domain.periods import BillingPeriod, time_zone
from seatsync.domain.planning import (
    Action,
    AdditionView,
    AgreementView,
    CompanyRef,
    MappingState,
    MappingView,
    Plan,
    PlanRow,
    RemoteView,
    make_plan,
    plan_company,
)
from seatsync.errors import (
    AmbiguousAnswer,
    AuthenticationFailed,
    ConnectorError,
    PermissionDenied,
    RateLimited,
    RecordNotFound,
    RetriableError,
    maybe_applied,
)
from seatsync.push import intents, runs
from seatsync.push.intents import Intent, Pending
from seatsync.push.reports import TAG_LENGTH, Report, build_report, previous_pushed, tag_in
from seatsync.push.runs import Outcome
from seatsync.services.billing import BillableUser, billable_users, count_billable
from seatsync.targets.base import ItemKey, PushOptions, RowResult, Scope

log = logging.getLogger(__name__)

ClientFactory = Callable[[Session, Tenant], ConnectWiseApi]

#: agreements read per request (``id in (...)``): keeps the URL well under ConnectWise's ~2,000 characters
AGREEMENT_BATCH = 150
AGREEMENT_FIELDS = (
    "id,company/id,company/name,agreementStatus,cancelledFlag,endDate,noEndingDateFlag,"
    "nextInvoiceDate,billingCycle/name,prorateFlag"
)
RECORD_TYPE = "Agreement"

#: this target's key in runs and results
KEY = "connectwise"


def default_client_factory(session: Session, tenant: Tenant) -> ConnectWiseApi:
    from seatsync.services.connectwise_connection import client_for

    client: ConnectWiseApi = client_for(session, tenant=tenant)
    return client


# -- what is pushed ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Task:
    """One company to consider, with everything the database knows about it."""

    company: CompanyRef
    billable: int
    mapping: MappingView | None
    report: Report | None = None
    #: report hash -> document id, for reports already recorded as attached to this agreement for the period
    attached: dict[str, int] = field(default_factory=dict)
    prior_attempts: int = 0
    #: an interrupted run of the period may have attached a report without recording it: look before uploading
    uncertain: bool = False
    #: the mapping's product: "" = one addition for all the company's products
    product: str = ""
    #: what the addition gets: ``billable``, or the sum of the companies billed together on it
    quantity: int | None = None
    #: said beside the row (billed together, archived ...)
    note: str | None = None
    #: why the row must not be pushed (an addition shared without "billed together")
    refused: str | None = None

    @property
    def key(self) -> ItemKey:
        return (self.company.pk, self.product)

    @property
    def item_quantity(self) -> int:
        return self.billable if self.quantity is None else self.quantity

    @property
    def complete(self) -> bool:
        return self.mapping is not None and self.mapping.state is MappingState.COMPLETE


@dataclass(slots=True)
class Work:
    period: BillingPeriod
    targets: list[Task]
    #: the period's first day in the tenant's zone (where a quantity lands on the agreement's invoices)
    period_start: date | None = None
    #: agreement id -> its view, or why it could not be read (read ahead, in batches)
    agreements: dict[int, AgreementView | str] = field(default_factory=dict)


def _mapping_view(m: CWMapping) -> MappingView:
    return MappingView(m.cw_company_id, m.agreement_id, m.addition_id, m.last_pushed_quantity, m.cw_company_name)


def load(
    session: Session,
    *,
    tenant: Tenant,
    period: BillingPeriod,
    scope: Scope | None = None,
    attempts: Mapping[ItemKey, int] | None = None,
) -> Work:
    """Counts, mappings, reports and what is known to be attached; ``scope`` limits the items.

    One task per item: a company mapped to one addition for all its products has one (product ``""``), a
    company mapped per product one per product it subscribes to (an unmapped product is a row that is not
    pushed). Each addition gets the count of the products it bills; companies billed together on one addition
    give it their sum (``seatsync.domain.items``).
    """
    counts = count_billable(session, tenant=tenant, period=period)
    rules = {c.company_pk: c.rule.value for c in counts}
    by_company: dict[int, dict[str, CWMapping]] = defaultdict(dict)
    for m in session.scalars(select(CWMapping).where(CWMapping.tenant_id == tenant.id)):
        by_company[m.company_pk][m.product] = m
    archived = _archived(session, tenant=tenant, period=period)
    all_tasks: list[Task] = []
    for c in counts:
        ref = CompanyRef(c.company_pk, c.company_id, c.name)
        mapped = by_company.get(c.company_pk, {})
        per_product = {p for p in mapped if p}
        products = [""] if not per_product else [p.value for p in c.products] or sorted(per_product)
        counted = {p.value: n for p, n in c.per_product().items()}
        for product in products:
            mapping = mapped.get(product)
            billable = c.billable_users if not product else counted.get(product, 0)
            all_tasks.append(
                Task(
                    ref,
                    billable,
                    _mapping_view(mapping) if mapping is not None else None,
                    prior_attempts=(attempts or {}).get((c.company_pk, product), 0),
                    product=product,
                    note=archived.get(c.company_pk),
                )
            )
    _share_items(all_tasks, by_company)
    targets = [t for t in all_tasks if scope is None or scope(t.key)]
    complete = [t for t in targets if t.complete]
    users: dict[str, list[BillableUser]] = defaultdict(list)
    if complete:
        for user in billable_users(session, tenant=tenant, period=period, company_pks=[t.company.pk for t in complete]):
            users[user.company_id].append(user)
    known: dict[tuple[int, int], dict[str, int]] = defaultdict(dict)
    rows = session.execute(
        select(PushResult.company_pk, PushResult.agreement_id, PushResult.report_sha256, PushResult.document_id)
        .join(PushRun, PushRun.id == PushResult.run_id)
        .where(
            PushRun.tenant_id == tenant.id,
            PushRun.target == KEY,
            PushRun.period == str(period),
            PushRun.dry_run.is_(False),
            PushResult.document_id.is_not(None),
            PushResult.report_sha256.is_not(None),
        )
    )
    for pk, agreement_id, sha, document_id in rows:
        if agreement_id is not None and sha is not None and document_id is not None:
            known[(pk, agreement_id)][sha] = document_id
    uncertain = _maybe_attached_unrecorded(session, tenant=tenant, period=period)
    declared = intents.uploads_declared(session, tenant_id=tenant.id, target=KEY, period=str(period))
    baselines = previous_pushed(
        session,
        tenant=tenant,
        target=KEY,
        period=period,
        company_pks=[t.company.pk for t in complete],
    )
    for t in complete:
        t.uncertain = uncertain(t.company.pk) or t.company.pk in declared
        t.report = build_report(
            company_id=t.company.company_id,
            company_name=t.company.name,
            period=str(period),
            users=users.get(t.company.company_id, []),
            rule=rules.get(t.company.pk),
            previous=baselines.get(t.company.pk),
        )
        assert t.mapping is not None
        t.attached = known.get((t.company.pk, t.mapping.agreement_id or 0), {})
    local_start = period.start(time_zone(tenant.time_zone)).astimezone(time_zone(tenant.time_zone)).date()
    return Work(period, targets, period_start=local_start)


def _label(t: Task) -> str:
    return t.company.company_id + (f" ({t.product})" if t.product else "")


def _share_items(tasks: list[Task], by_company: Mapping[int, Mapping[str, CWMapping]]) -> None:
    """Each task's addition quantity: its own count, or the sum of the companies billed together on it."""
    shares = {
        t.key: ItemShare(
            t.key,
            (t.mapping.agreement_id, t.mapping.addition_id) if t.complete and t.mapping else None,
            t.billable,
            together=bool(
                by_company.get(t.company.pk, {}).get(t.product) and by_company[t.company.pk][t.product].billed_together
            ),
            label=_label(t),
        )
        for t in tasks
    }
    found = quantities(shares.values())
    for t in tasks:
        share = found[t.key]
        if not share.shared:
            continue
        t.quantity = share.total
        if share.error is not None:
            t.refused = share.error
        else:
            words = share.describe(shares[t.key])
            t.note = "; ".join(n for n in (words, t.note) if n)


def _archived(session: Session, *, tenant: Tenant, period: BillingPeriod) -> dict[int, str]:
    """The companies archived during ``period``: pushed for it, then no longer (the preview says so)."""
    start, end = period.bounds(time_zone(tenant.time_zone))
    rows = session.execute(
        select(Company.id, Company.archived_at).where(
            Company.tenant_id == tenant.id,
            Company.archived.is_(True),
            Company.archived_at >= start,
            Company.archived_at < end,
        )
    ).all()
    return {
        int(pk): f"archived on {at.date().isoformat()} (the client left): pushed for {period}, not after"
        for pk, at in rows
        if at is not None
    }


def _maybe_attached_unrecorded(session: Session, *, tenant: Tenant, period: BillingPeriod) -> Callable[[int], bool]:
    """Whether an interrupted run of the period may have reached a company without recording it."""
    interrupted = list(
        session.scalars(
            select(PushRun.id).where(
                PushRun.tenant_id == tenant.id,
                PushRun.target == KEY,
                PushRun.period == str(period),
                PushRun.dry_run.is_(False),
                PushRun.status == runs.RunStatus.INTERRUPTED,
            )
        )
    )
    if not interrupted:
        return lambda _pk: False
    recorded: dict[int, set[int]] = {run_id: set() for run_id in interrupted}
    for run_id, pk in session.execute(
        select(PushResult.run_id, PushResult.company_pk).where(PushResult.run_id.in_(interrupted))
    ):
        recorded[run_id].add(pk)
    return lambda pk: any(pk not in pks for pks in recorded.values())


# -- reading ConnectWise -------------------------------------------------------------------------------------


def _agreement_view(a: Agreement) -> AgreementView:
    return AgreementView(
        id=a.id,
        company_id=a.company.id if a.company else None,
        company_name=a.company.name if a.company else None,
        status=a.agreement_status,
        cancelled=bool(a.cancelled_flag),
        end_date=a.end_date,
        no_ending_date=a.no_ending_date_flag,
        next_invoice_date=parse_invoice_date(a.next_invoice_date),
        billing_cycle=a.billing_cycle.name if a.billing_cycle else None,
        prorate=bool(a.prorate_flag),
    )


def _addition_view(a: Addition) -> AdditionView:
    return AdditionView(a.id, a.agreement_id, a.quantity, a.cancelled_date, a.less_included)


def describe(exc: ConnectorError, *, agreement_id: int | None = None, addition_id: int | None = None) -> str:
    """A reason a person can act on, never a bare status code."""
    if isinstance(exc, PermissionDenied):
        right = exc.right or "a right this call needs"
        return f"the API member lacks {right}; grant it in ConnectWise (System › Security Roles) and retry"
    if isinstance(exc, RecordNotFound):
        path = exc.path or ""
        if addition_id is not None and "/additions/" in path:
            return (
                f"addition {addition_id} was deleted in ConnectWise (it is no longer on agreement {agreement_id}); "
                "choose another addition in the mapper"
            )
        if agreement_id is not None and "/finance/agreements" in path:
            return f"agreement {agreement_id} was deleted in ConnectWise; choose another agreement in the mapper"
        return exc.message
    if isinstance(exc, RateLimited):
        return "ConnectWise kept refusing requests as too many (rate limit); retry the failed companies later"
    if isinstance(exc, RetriableError):
        return f"{exc.message}; retry the failed companies"
    return exc.message


def _read_agreements(
    client: ConnectWiseApi, ids: Iterable[int | None], pool: Executor
) -> dict[int, AgreementView | str]:
    """Each agreement's view, or why it could not be read; an id ConnectWise does not return is absent."""
    wanted = sorted({i for i in ids if i is not None})
    chunks = [wanted[i : i + AGREEMENT_BATCH] for i in range(0, len(wanted), AGREEMENT_BATCH)]

    def read(chunk: list[int]) -> dict[int, AgreementView | str]:
        try:
            found = client.list_agreements(conditions=where("id", "in", chunk), fields=AGREEMENT_FIELDS)
        except AuthenticationFailed:
            raise  # the credentials: the run stops
        except ConnectorError as exc:
            return dict.fromkeys(chunk, describe(exc))
        return {a.id: _agreement_view(a) for a in found}

    out: dict[int, AgreementView | str] = {}
    for part in pool.map(read, chunks):
        out.update(part)
    return out


def _remote(client: ConnectWiseApi, mapping: MappingView, agreement: AgreementView | str | None) -> RemoteView:
    assert mapping.agreement_id is not None
    assert mapping.addition_id is not None
    if isinstance(agreement, str):
        return RemoteView(None, None, agreement)
    if agreement is None:
        return RemoteView(None, None)
    try:
        addition = _addition_view(client.get_addition(mapping.agreement_id, mapping.addition_id))
    except RecordNotFound:
        return RemoteView(agreement, None)
    except AuthenticationFailed:
        raise  # the credentials: the run stops
    except ConnectorError as exc:
        return RemoteView(agreement, None, describe(exc, agreement_id=mapping.agreement_id))
    return RemoteView(agreement, addition)


def _plan_row(
    client: ConnectWiseApi,
    t: Task,
    agreements: dict[int, AgreementView | str],
    now: datetime,
    period_start: date | None = None,
) -> PlanRow:
    remote = None
    if t.complete and t.refused is None:
        assert t.mapping is not None
        assert t.mapping.agreement_id is not None
        remote = _remote(client, t.mapping, agreements.get(t.mapping.agreement_id))
    return _planned(t, remote, now, period_start)


def _planned(t: Task, remote: RemoteView | None, now: datetime, period_start: date | None = None) -> PlanRow:
    return plan_company(
        company=t.company,
        billable=t.billable,
        mapping=t.mapping,
        remote=remote,
        now=now,
        quantity=t.quantity,
        product=t.product,
        period_start=period_start,
        note=t.note,
        refused=t.refused,
    )


def _concurrency(concurrency: int | None) -> int:
    return max(1, concurrency or get_settings().connectwise_concurrency)


def preview(
    session: Session, *, tenant: Tenant, period: BillingPeriod, client: ConnectWiseApi, concurrency: int | None = None
) -> Plan:
    """The plan for every company of the tenant; reads ConnectWise, changes nothing anywhere."""
    work = load(session, tenant=tenant, period=period)
    now = datetime.now(UTC)
    with ThreadPoolExecutor(_concurrency(concurrency), thread_name_prefix="cw-preview") as pool:
        agreements = _read_agreements(
            client, (t.mapping.agreement_id for t in work.targets if t.complete and t.mapping), pool
        )
        rows = list(pool.map(lambda t: _plan_row(client, t, agreements, now, work.period_start), work.targets))
    return make_plan(str(period), rows)


# -- pushing: the engine calls these through the target ------------------------------------------------------


def read_ahead(client: ConnectWiseApi, work: Work, pool: Executor) -> None:
    """The mapped companies' agreements, in batches, before any company is pushed."""
    ids = (t.mapping.agreement_id for t in work.targets if t.complete and t.mapping)
    work.agreements = _read_agreements(client, ids, pool)


@dataclass(slots=True)
class Unit:
    """One mapped company of a run, with the agreements read ahead (shared by the run's units)."""

    task: Task
    agreements: dict[int, AgreementView | str]
    now: datetime
    #: the period's first local day: the row says where its quantity lands
    period_start: date | None = None


def _result(
    t: Task,
    row: PlanRow,
    outcome: Outcome,
    *,
    after: float | None = None,
    document_id: int | None = None,
    reason: str | None = None,
    confirmed: float | None = None,
    fatal: ConnectorError | None = None,
) -> RowResult:
    return RowResult(
        company=t.company,
        product=t.product or None,
        outcome=outcome,
        billable=t.billable,
        before=row.current_quantity,
        after=after,
        reason=reason,
        sent=t.complete,
        fatal=fatal,
        columns={
            "cw_company_id": row.cw_company_id,
            "agreement_id": row.agreement_id,
            "addition_id": row.addition_id,
            "document_id": document_id,
            "report_sha256": t.report.sha256 if t.report is not None and t.complete else None,
        },
        memo=(row.addition_id, confirmed, t.product) if confirmed is not None else None,
        prior_attempts=t.prior_attempts,
    )


def local_result(t: Task, now: datetime) -> RowResult:
    """A company that is not (completely) mapped: nothing to read or send."""
    row = _planned(t, None, now)
    outcome = Outcome.NOT_MAPPED if row.mapping_state is MappingState.UNMAPPED else Outcome.SKIPPED
    return _result(t, row, outcome, reason=row.reason)


def _unread(t: Task, now: datetime) -> PlanRow:
    return _planned(t, None, now)


def not_sent(unit: Unit, reason: str) -> RowResult:
    return _result(unit.task, _unread(unit.task, unit.now), Outcome.FAILED, reason=reason)


class Unsettled(Exception):
    """A write whose answer could not be read and whose effect could not be read back either."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _said(exc: ConnectorError) -> str:
    return exc.message.rstrip(".")


def _find_report(client: ConnectWiseApi, agreement_id: int, tag: str) -> int | None:
    """The id of the document on the agreement whose title carries ``tag`` (a report's hash prefix)."""
    for document in client.list_documents(RECORD_TYPE, agreement_id):
        if tag_in(document.title) == tag:
            return document.id
    return None


def _attach(client: ConnectWiseApi, t: Task, agreement_id: int) -> int:
    """The report's document id on the agreement: recorded, found by its hash, or uploaded now. After an answer
    that may hide an upload, the agreement's documents are searched by the hash first (``Unsettled`` when they
    cannot be read: never a blind second upload)."""
    report = t.report
    assert report is not None
    if report.sha256 in t.attached:
        return t.attached[report.sha256]
    if t.uncertain or t.attached:
        # an earlier upload whose answer was lost, or a report attached earlier under another hash (may be back)
        found = _find_report(client, agreement_id, report.tag)
        if found is not None:
            return found
    try:
        uploaded = client.upload_document(
            RECORD_TYPE, agreement_id, report.title, report.filename, report.content, content_type="text/csv"
        )
    except AuthenticationFailed:
        raise
    except ConnectorError as exc:
        if not maybe_applied(exc):
            raise
        try:
            found = _find_report(client, agreement_id, report.tag)
        except AuthenticationFailed:
            raise
        except ConnectorError as listing:
            raise Unsettled(
                f"the report may have been attached: ConnectWise's answer to the upload could not be read "
                f"({_said(exc)}) and the agreement's documents could not be listed ({_said(listing)}); the next push "
                "looks for it by its hash before uploading"
            ) from None
        if found is None:
            raise
        return found
    return uploaded.id


def _set_quantity(client: ConnectWiseApi, agreement_id: int, addition_id: int, quantity: float) -> float | None:
    """Set the addition's quantity; returns what ConnectWise holds. After an answer that may hide the change
    (``maybe_applied``, or a 2xx without the quantity) the addition is read back; ``Unsettled`` when it cannot
    be. A clear refusal is raised as it came."""
    try:
        answered = client.set_addition_quantity(agreement_id, addition_id, quantity).quantity
        if answered is not None:
            return answered
        lost: ConnectorError = AmbiguousAnswer("ConnectWise's answer to the change did not say the quantity")
    except AuthenticationFailed:
        raise
    except ConnectorError as exc:
        if not maybe_applied(exc):
            raise
        lost = exc
    try:
        holds = client.get_addition(agreement_id, addition_id).quantity
    except AuthenticationFailed:
        raise
    except ConnectorError as reading:
        raise Unsettled(
            f"the quantity may have been set to {quantity:g}: ConnectWise's answer could not be read ({_said(lost)}) "
            f"and reading the addition back failed ({_said(reading)}); the next push reads it back"
        ) from None
    log.info("addition %s: answer unreadable (%s), read back %s", addition_id, lost.message, holds)
    return holds


def _ids(row: PlanRow) -> dict[str, Any]:
    return {"cw_company_id": row.cw_company_id, "agreement_id": row.agreement_id, "addition_id": row.addition_id}


def push_one(client: ConnectWiseApi, unit: Unit, options: PushOptions) -> RowResult:
    """Read, compare, set one company's addition, then attach its report (or, in a dry run, say what would be)."""
    t = unit.task
    try:
        row = _plan_row(client, t, unit.agreements, unit.now, unit.period_start)
    except AuthenticationFailed as exc:
        return _result(t, _unread(t, unit.now), Outcome.FAILED, reason=describe(exc), fatal=exc)
    if row.action is Action.ERROR:
        return _result(t, row, Outcome.FAILED, reason=row.reason)
    if row.action is Action.SKIP:
        return local_result(t, unit.now)
    if options.skip_invoiced and row.already_invoiced and row.invoice is not None:
        # nothing is sent for it (no quantity, no report): the operator chose to leave invoiced periods alone
        skipped = _result(t, row, Outcome.SKIPPED, reason=f"skipped (skip invoiced): {row.invoice.describe()}")
        skipped.columns["report_sha256"] = None  # no report was attached
        return skipped
    if not row.pushes(force=options.force):
        return _result(t, row, Outcome.BLOCKED, reason=row.reason)
    if options.dry_run:
        if row.action is Action.UNCHANGED:
            return _result(t, row, Outcome.UNCHANGED, after=row.current_quantity)
        said = "; ".join(x for x in (row.reason, row.note, row.invoice.describe() if row.invoice else None) if x)
        return _result(t, row, Outcome.PLANNED, after=row.proposed_quantity, reason=said or None)
    assert t.mapping is not None
    assert t.mapping.agreement_id is not None
    assert t.mapping.addition_id is not None
    agreement_id, addition_id = t.mapping.agreement_id, t.mapping.addition_id
    after = row.current_quantity
    changed = row.action is not Action.UNCHANGED
    intended = float(t.item_quantity) if changed else row.current_quantity
    sha = t.report.sha256 if t.report is not None and report_needed(t) else None
    if changed or sha is not None:  # something will be sent: say what first
        intents.declare(Intent(t.company.pk, t.product, row.current_quantity, intended, t.billable, sha, _ids(row)))
    try:
        if changed:
            after = _set_quantity(client, agreement_id, addition_id, float(t.item_quantity))
    except Unsettled as unsettled:
        return _result(t, row, Outcome.FAILED, after=None, reason=unsettled.reason)
    except ConnectorError as exc:
        reason = describe(exc, agreement_id=agreement_id, addition_id=addition_id)
        fatal = exc if isinstance(exc, AuthenticationFailed) else None
        return _result(t, row, Outcome.FAILED, after=row.current_quantity, reason=reason, fatal=fatal)
    if changed and after != intended:
        held = "no quantity" if after is None else f"{after:g}"
        return _result(
            t,
            row,
            Outcome.FAILED,
            after=after,
            reason=f"ConnectWise's answer to setting {intended:g} could not be read; read back, it holds {held}",
        )
    try:
        document_id = _attach(client, t, agreement_id)
    except (ConnectorError, Unsettled) as exc:
        said = exc.reason if isinstance(exc, Unsettled) else describe(exc, agreement_id=agreement_id)
        done = f"the quantity was set to {t.item_quantity}" if changed else "the quantity was already right"
        return _result(
            t,
            row,
            Outcome.FAILED,
            after=after,
            reason=f"{done}, but the billing report could not be attached: {said}",
            confirmed=after,
            fatal=exc if isinstance(exc, AuthenticationFailed) else None,
        )
    outcome = Outcome.SUCCEEDED if changed else Outcome.UNCHANGED
    forced = " (blocked, pushed with the override: " + (row.reason or "") + ")" if row.action is Action.BLOCKED else ""
    return _result(
        t, row, outcome, after=after, document_id=document_id, reason=forced.strip() or None, confirmed=after
    )


def report_needed(t: Task) -> bool:
    """Whether pushing ``t`` may upload its report (it is not recorded as attached)."""
    return t.report is not None and t.report.sha256 not in t.attached


def read_back(client: ConnectWiseApi, p: Pending) -> RowResult:
    """The true result of a company an interrupted run sent without recording: what the addition holds now and
    whether the report is attached (found by its hash). Raises ``ConnectorError`` when it cannot be read now."""
    agreement_id, addition_id = int(p.item["agreement_id"]), int(p.item["addition_id"])
    holds = client.get_addition(agreement_id, addition_id).quantity
    document_id = _find_report(client, agreement_id, p.report_sha256[:TAG_LENGTH]) if p.report_sha256 else None
    set_right = holds == p.intended
    attached = p.report_sha256 is None or document_id is not None
    held = "no quantity" if holds is None else f"{holds:g}"
    if set_right and attached:
        outcome = Outcome.UNCHANGED if p.before == p.intended else Outcome.SUCCEEDED
        said = f"holds {held}" + (", and the report is attached" if document_id is not None else "")
    else:
        outcome = Outcome.FAILED
        wanted = "no quantity" if p.intended is None else f"{p.intended:g}"
        said = f"holds {held}" + ("" if set_right else f", not the {wanted} this run meant to set")
        said += "" if attached else ", and the report is not attached"
    return RowResult(
        company=p.company,
        product=p.product or None,
        outcome=outcome,
        billable=p.billable,
        before=p.before,
        after=holds,
        reason=intents.reconciled_reason("ConnectWise", said)
        + ("" if outcome is not Outcome.FAILED else "; push again"),
        sent=True,
        columns={**p.item, "document_id": document_id, "report_sha256": p.report_sha256},
        memo=(addition_id, holds, p.product) if set_right else None,
    )


_CONFIRM = (
    update(CWMapping.__table__)  # type: ignore[arg-type]
    # only if the mapping still points at the addition that was pushed
    .where(
        CWMapping.company_pk == bindparam("b_pk"),
        CWMapping.product == bindparam("b_product"),
        CWMapping.addition_id == bindparam("b_addition"),
    )
    .values(last_pushed_quantity=bindparam("b_quantity"), last_pushed_at=bindparam("b_at", type_=UTCDateTime()))
)


def confirm(session: Session, *, run: PushRun, results: Sequence[RowResult]) -> None:
    """Remember the quantity seatsync set (or found right) on each mapping: the next plan's drift check."""
    if run.dry_run:
        return
    now = datetime.now(UTC)
    confirmed: list[dict[str, Any]] = [
        {"b_pk": r.company.pk, "b_addition": r.memo[0], "b_quantity": r.memo[1], "b_product": r.memo[2], "b_at": now}
        for r in results
        if r.memo is not None
    ]
    if confirmed:
        session.connection().execute(_CONFIRM, confirmed)  # one executemany: the recorder keeps up with 16 senders
