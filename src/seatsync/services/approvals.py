"""Rows waiting for approval, and an admin's decisions on them.

A push held a row back (outcome ``awaiting``, ``quantity_before`` → ``quantity_after`` proposed) when its
change went over the tenant's threshold for the target. Such a row waits until an admin decides, or until a later
push of the same target and period has a result for the same company (that one supersedes it).

    waiting_runs(session, tenant=t)                              # the Approvals page
    approve(engine, tenant_id=..., run_id=..., company_ids=None, by=..., send=sender)   # all, or some
    reject(session, tenant=t, run_id=..., company_ids=None, by=...)

Approving records the decisions, then ``send`` pushes exactly the approved rows of that run's period: a push
started by ``"<admin> (approval of run N)"``, which the engine's gate (``seatsync.push.gate``) limits to the rows
approved, planned again first (a row whose quantities changed since it was held is held again); the run it
started is kept on each decision (``sent_run_id``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, Select, exists, func, select
from sqlalchemy.orm import Session, aliased

from seatsync.db.engine import transaction
from seatsync.db.models import Approval, Company, PushResult, PushRun, Tenant
from seatsync.domain.approvals import Change, change
from seatsync.errors import Conflict, NotFound, UserInputError
from seatsync.push.runs import Outcome, get_run


class Decision(enum.StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class WaitingRow:
    run_id: int
    company_pk: int
    company_id: str
    company_name: str
    #: ``""``: the company's only item
    product: str
    before: float | None
    proposed: float | None
    reason: str | None

    @property
    def key(self) -> tuple[int, str]:
        return (self.company_pk, self.product)

    @property
    def change(self) -> Change:
        return change(self.before, self.proposed or 0.0)


@dataclass(frozen=True, slots=True)
class WaitingRun:
    run: PushRun
    rows: list[WaitingRow]


@dataclass(frozen=True, slots=True)
class ApprovedRows:
    """What ``send`` is asked to push: exactly these rows of this period, each at its approved quantity."""

    tenant_id: int
    target: str
    period: str
    held_run_id: int
    rows: tuple[WaitingRow, ...]
    #: who approved; the push says ``"<by> (approval of run N)"``
    by: str
    #: the held run left out rows whose period is already invoiced: the approved rows' push does too, so an
    #: approval never sends what the run that held them chose to skip
    skip_invoiced: bool = False


#: pushes the approved rows; the id of the run it started (None when nothing needed sending)
Sender = Callable[[Engine, ApprovedRows], int | None]


def _now() -> datetime:
    return datetime.now(UTC)


def _waiting_query(tenant_id: int) -> Select[PushResult, str, str]:
    later_result = aliased(PushResult)
    later_run = aliased(PushRun)
    superseded = exists().where(
        later_result.company_pk == PushResult.company_pk,
        later_result.run_id > PushResult.run_id,
        later_run.id == later_result.run_id,
        later_run.tenant_id == PushRun.tenant_id,
        later_run.target == PushRun.target,
        later_run.period == PushRun.period,
        later_run.dry_run.is_(False),
    )
    decided = exists().where(
        Approval.run_id == PushResult.run_id,
        Approval.company_pk == PushResult.company_pk,
        Approval.product == func.coalesce(PushResult.product, ""),
    )
    return (
        select(PushResult, Company.company_id, Company.name)
        .join(PushRun, PushRun.id == PushResult.run_id)
        .join(Company, Company.id == PushResult.company_pk)
        .where(
            PushRun.tenant_id == tenant_id,
            PushResult.outcome == Outcome.AWAITING_APPROVAL.value,
            ~decided,
            ~superseded,
        )
        .order_by(PushResult.run_id.desc(), Company.company_id, PushResult.product)
    )


def _row(result: PushResult, company_id: str, name: str) -> WaitingRow:
    return WaitingRow(
        result.run_id,
        result.company_pk,
        company_id,
        name,
        result.product or "",
        result.quantity_before,
        result.quantity_after,
        result.reason,
    )


def waiting_rows(session: Session, *, tenant: Tenant, run_id: int | None = None) -> list[WaitingRow]:
    query = _waiting_query(tenant.id)
    if run_id is not None:
        query = query.where(PushResult.run_id == run_id)
    return [_row(r, cid, name) for r, cid, name in session.execute(query)]


def waiting_runs(session: Session, *, tenant: Tenant) -> list[WaitingRun]:
    """Runs with rows waiting, newest first."""
    by_run: dict[int, list[WaitingRow]] = {}
    for row in waiting_rows(session, tenant=tenant):
        by_run.setdefault(row.run_id, []).append(row)
    return [WaitingRun(get_run(session, tenant_id=tenant.id, run_id=rid), rows) for rid, rows in by_run.items()]


def waiting_count(session: Session, *, tenant: Tenant) -> int:
    return len(waiting_rows(session, tenant=tenant))


def _chosen(session: Session, *, tenant: Tenant, run_id: int, company_ids: Sequence[str] | None) -> list[WaitingRow]:
    run = get_run(session, tenant_id=tenant.id, run_id=run_id)
    rows = waiting_rows(session, tenant=tenant, run_id=run.id)
    if not rows:
        raise Conflict(f"run {run_id} has no rows waiting for approval (decided already, or pushed again since)")
    if not company_ids:
        return rows
    wanted = set(company_ids)
    chosen = [r for r in rows if r.company_id in wanted]
    unknown = sorted(wanted - {r.company_id for r in chosen})
    if unknown:
        waiting = ", ".join(sorted({r.company_id for r in rows}))
        raise UserInputError(
            f"run {run_id} has no row waiting for approval for company {', '.join(unknown)}; waiting: {waiting}"
        )
    return chosen


def _record(session: Session, *, tenant: Tenant, rows: Sequence[WaitingRow], decision: Decision, by: str) -> None:
    now = _now()
    for row in rows:
        session.add(
            Approval(
                tenant_id=tenant.id,
                run_id=row.run_id,
                company_pk=row.company_pk,
                product=row.product,
                before=row.before,
                proposed=row.proposed,
                decision=decision.value,
                decided_by=by,
                decided_at=now,
            )
        )
    session.flush()


def reject(
    session: Session, *, tenant: Tenant, run_id: int, company_ids: Sequence[str] | None = None, by: str
) -> list[WaitingRow]:
    """Drop the waiting rows (all, or those companies'): they are not sent; the rows decided."""
    rows = _chosen(session, tenant=tenant, run_id=run_id, company_ids=company_ids)
    _record(session, tenant=tenant, rows=rows, decision=Decision.REJECTED, by=by)
    return rows


@dataclass(frozen=True, slots=True)
class Approved:
    rows: list[WaitingRow]
    #: the push that sent them
    run_id: int | None


def approve(
    engine: Engine,
    *,
    tenant_id: int,
    run_id: int,
    company_ids: Sequence[str] | None = None,
    by: str,
    send: Sender,
) -> Approved:
    """Approve the waiting rows (all, or those companies') and send exactly them."""
    with transaction(engine) as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound(f"no tenant {tenant_id}")
        rows = _chosen(session, tenant=tenant, run_id=run_id, company_ids=company_ids)
        run = get_run(session, tenant_id=tenant_id, run_id=run_id)
        _record(session, tenant=tenant, rows=rows, decision=Decision.APPROVED, by=by)
        request = ApprovedRows(
            tenant_id, run.target, run.period, run.id, tuple(rows), by, skip_invoiced=bool(run.skip_invoiced)
        )
    sent = send(engine, request)
    if sent is not None:
        with transaction(engine) as session:
            for decision in session.scalars(
                select(Approval).where(
                    Approval.run_id == run_id,
                    Approval.decision == Decision.APPROVED.value,
                    Approval.sent_run_id.is_(None),
                    Approval.company_pk.in_([r.company_pk for r in rows]),
                )
            ):
                decision.sent_run_id = sent
    return Approved(rows, sent)


def decisions(session: Session, *, tenant: Tenant, run_id: int) -> list[Approval]:
    return list(
        session.scalars(
            select(Approval).where(Approval.tenant_id == tenant.id, Approval.run_id == run_id).order_by(Approval.id)
        )
    )
