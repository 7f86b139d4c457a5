"""Write intents: what a run is about to change on an item, committed before the request is sent.

    declare(Intent(company_pk, product, before=5, intended=31, report_sha256=sha, item={"addition_id": 7}))
    client.set_addition_quantity(...)                        # only once the intent is committed

A target's ``apply`` calls ``declare`` just before its first write of an item (a quantity, an upload, a count);
the engine (``seatsync.push.engine``) has set the run's ``IntentLog`` for the calling thread (``recording``), so
``declare`` commits one ``push_intents`` row and returns. Outside a run (a test calling a target directly) it does
nothing. The item's result, written later in a batch, is what settles the intent: an intent whose run has no
result for its item is a write whose answer never reached the database.

**Reconciling.** Before a run of a tenant and target does anything else, ``reconcile`` takes the pending intents
of that tenant and target's interrupted runs (killed with -9, the machine lost), reads each item back through the
target (``ReadsBack.read_back``: ConnectWise reads the addition and finds the report by its hash, Autotask and
HaloPSA read the units) and writes the item's result **on the run that sent it**: History shows that run's true
before → after ("5 → 31 succeeded"), and the next run finds 31 already set ("31 → 31 unchanged"). A target that
cannot read back (Gradient's API has no read of a unit count) records ``unconfirmed``: sent, with what was meant,
never claimed as done. An item that cannot be read now (the remote is down) stays pending for the next run.

**Ambiguous answers inside a run** (``seatsync.errors.maybe_applied``: an unreadable 2xx, a 5xx or a lost answer
after the request may have been processed) are the target's to settle in ``apply``: it reads back before any
retry and records what it finds; ConnectWise also looks for its report by hash before uploading again whenever an
earlier run of the period declared an upload for the company (``uploads_declared``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Engine, and_, func, insert, select
from sqlalchemy.orm import Session

from seatsync.db.engine import transaction
from seatsync.db.models import Company, PushIntent, PushResult, PushRun
from seatsync.domain.planning import CompanyRef
from seatsync.errors import AuthenticationFailed, ConnectorError
from seatsync.push import runs
from seatsync.push.runs import Outcome, RunStatus
from seatsync.targets.base import BillingTarget, RowResult

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Intent:
    """What ``apply`` is about to send for one item."""

    company_pk: int
    #: the item's product as its ``RowResult`` has it (None or ``""``: one item for every product)
    product: str | None
    before: float | None
    intended: float | None
    billable: int | None = None
    report_sha256: str | None = None
    #: the target's ids of the item (``push_results`` columns and their values, and anything else its
    #: ``read_back`` needs), enough to read it back
    item: Mapping[str, Any] = field(default_factory=dict)

    def with_item(self, item: Mapping[str, Any]) -> Intent:
        return replace(self, item=item)


class IntentLog:
    """Commits a run's intents, one short transaction each (before the request it announces is sent)."""

    def __init__(self, engine: Engine, *, run_id: int, tenant_id: int) -> None:
        self.engine = engine
        self.run_id = run_id
        self.tenant_id = tenant_id

    def record(self, intent: Intent) -> None:
        with transaction(self.engine) as session:
            session.execute(
                insert(PushIntent),
                [
                    {
                        "run_id": self.run_id,
                        "tenant_id": self.tenant_id,
                        "company_pk": intent.company_pk,
                        "product": intent.product or "",
                        "quantity_before": intent.before,
                        "quantity_intended": intent.intended,
                        "billable": intent.billable,
                        "report_sha256": intent.report_sha256,
                        "item": {k: v for k, v in intent.item.items() if v is not None},
                        "created_at": datetime.now(UTC),
                    }
                ],
            )


_current: ContextVar[IntentLog | None] = ContextVar("seatsync_push_intents", default=None)


@contextmanager
def recording(intents: IntentLog | None) -> Iterator[None]:
    """``declare`` in this thread (and context) commits to ``intents``."""
    token = _current.set(intents)
    try:
        yield
    finally:
        _current.reset(token)


def declare(intent: Intent) -> None:
    """Commit ``intent`` before sending the write it announces (nothing outside a run)."""
    current = _current.get()
    if current is not None:
        current.record(intent)


# -- after a run that stopped ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pending:
    """An intent whose run never recorded the item's result."""

    run_id: int
    period: str
    company: CompanyRef
    product: str
    before: float | None
    intended: float | None
    billable: int | None
    report_sha256: str | None
    item: Mapping[str, Any]


#: the ``push_results`` columns an intent's item may fill in a result
RESULT_COLUMNS = frozenset(PushResult.__table__.columns.keys())


@runtime_checkable
class ReadsBack(Protocol):
    """A target that can read an item back: the result of ``pending``'s write as the remote holds it now
    (outcome, before = the intent's, after = what is there). Raises ``ConnectorError`` when it cannot read now."""

    def read_back(self, client: Any, pending: Pending) -> RowResult: ...


def pending_intents(session: Session, *, tenant_id: int, target: str) -> list[Pending]:
    """The newest intent per item of the tenant and target's interrupted real runs that has no result."""
    settled = (
        select(PushResult.id)
        .where(
            PushResult.run_id == PushIntent.run_id,
            PushResult.company_pk == PushIntent.company_pk,
            func.coalesce(PushResult.product, "") == PushIntent.product,
        )
        .exists()
    )
    rows = session.execute(
        select(PushIntent, PushRun.period, Company.company_id, Company.name)
        .join(PushRun, PushRun.id == PushIntent.run_id)
        .join(Company, Company.id == PushIntent.company_pk)
        .where(
            and_(
                PushRun.tenant_id == tenant_id,
                PushRun.target == target,
                PushRun.status == RunStatus.INTERRUPTED,
                PushRun.dry_run.is_(False),
                ~settled,
            )
        )
        .order_by(PushIntent.id)
    )
    newest: dict[tuple[int, int, str], Pending] = {}
    for intent, period, company_id, name in rows:
        newest[(intent.run_id, intent.company_pk, intent.product)] = Pending(
            intent.run_id,
            period,
            CompanyRef(intent.company_pk, company_id, name),
            intent.product,
            intent.quantity_before,
            intent.quantity_intended,
            intent.billable,
            intent.report_sha256,
            dict(intent.item or {}),
        )
    return list(newest.values())


def uploads_declared(session: Session, *, tenant_id: int, target: str, period: str) -> set[int]:
    """The companies for which a real run of the period declared an upload (a report may be attached even
    though no result says so: look for it by its hash before uploading)."""
    return set(
        session.scalars(
            select(PushIntent.company_pk)
            .join(PushRun, PushRun.id == PushIntent.run_id)
            .where(
                PushRun.tenant_id == tenant_id,
                PushRun.target == target,
                PushRun.period == period,
                PushRun.dry_run.is_(False),
                PushIntent.report_sha256.is_not(None),
            )
            .distinct()
        )
    )


def unconfirmed(pending: Pending, label: str) -> RowResult:
    """The result of a write that was sent and cannot be read back: what was meant, never claimed as done."""
    return RowResult(
        company=pending.company,
        product=pending.product,
        outcome=Outcome.UNCONFIRMED,
        billable=pending.billable,
        before=pending.before,
        after=pending.intended,
        reason=(
            f"sent to {label} when the run stopped, its answer never recorded; {label} offers no way to read it back, "
            "so this is unconfirmed (push again to send it once more)"
        ),
        sent=True,
        columns={k: v for k, v in pending.item.items() if k in RESULT_COLUMNS},
    )


def result_row(
    r: RowResult, *, run_id: int, tenant_id: int, stamp: datetime, prior_attempts: int | None = None
) -> dict[str, Any]:
    """The ``push_results`` row of one result."""
    prior = r.prior_attempts if prior_attempts is None else prior_attempts
    return {
        "run_id": run_id,
        "tenant_id": tenant_id,
        "company_pk": r.company.pk,
        "product": r.product,
        "outcome": r.outcome.value,
        "quantity_before": r.before,
        "quantity_after": r.after,
        "billable": r.billable,
        "attempts": prior + (1 if r.sent else 0),
        "reason": r.reason,
        "updated_at": stamp,
        **r.columns,
    }


def reconcile(engine: Engine, *, tenant_id: int, target: BillingTarget, client: Any) -> int:
    """Read back every pending intent of the tenant and target's interrupted runs and record each item's true
    result on the run that sent it; returns how many were recorded. A 401 stops it (the run will say so)."""
    with transaction(engine) as session:
        found = pending_intents(session, tenant_id=tenant_id, target=target.key)
    if not found:
        return 0
    by_run: dict[int, list[RowResult]] = defaultdict(list)
    for p in found:
        try:
            result = target.read_back(client, p) if isinstance(target, ReadsBack) else unconfirmed(p, target.label)
        except AuthenticationFailed:
            break
        except ConnectorError as exc:
            log.info("run %s, company %s: cannot read back yet (%s)", p.run_id, p.company.company_id, exc)
            continue
        except (KeyError, TypeError, ValueError) as exc:  # an intent without the ids its target reads back by
            log.warning("run %s, company %s: intent cannot be read back: %r", p.run_id, p.company.company_id, exc)
            continue
        by_run[p.run_id].append(result)
    stamp = datetime.now(UTC)
    with transaction(engine) as session:
        for run_id, results in by_run.items():
            run = session.get(PushRun, run_id)
            assert run is not None
            rows = [result_row(r, run_id=run_id, tenant_id=tenant_id, stamp=stamp) for r in results]
            session.execute(insert(PushResult), rows)
            target.record(session, run=run, results=results)
            runs.refresh_counts(session, run)
    return sum(len(r) for r in by_run.values())


def reconciled_reason(label: str, said: str) -> str:
    """The words a read-back result carries: it was found after the run stopped."""
    return f"read back after the run stopped: {label} {said}"


__all__ = [
    "Intent",
    "IntentLog",
    "Pending",
    "ReadsBack",
    "declare",
    "pending_intents",
    "reconcile",
    "reconciled_reason",
    "recording",
    "result_row",
    "unconfirmed",
    "uploads_declared",
]
