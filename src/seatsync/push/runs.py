"""Push runs and their per-company results, for every target.

A run is written ``running`` before anything is sent, with the process that runs it (host, pid) and a
heartbeat; a run queued for a worker has no process until a worker claims it (``claim_run``). A partial unique
index (``uq_push_runs_live``) keeps one running run per tenant and target, whichever processes race to start one. A company's result is written only after its remote effect happened, so a run killed at any
point claims nothing that did not happen. The next start marks a run whose process is gone (or whose
heartbeat is older than the lease) ``interrupted``; re-running then finishes the work, and the engine's
read-compare-set makes that free of double effects.
"""

from __future__ import annotations

import enum
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seatsync.db.engine import transaction
from seatsync.db.models import Company, PushResult, PushRun
from seatsync.domain.rules import product_name
from seatsync.errors import Conflict, NotFound, SeatsyncError

#: a running run whose heartbeat is older than this is taken as dead, whatever host it runs on
LEASE = timedelta(minutes=2)
#: how often a running push writes its heartbeat
HEARTBEAT_EVERY = timedelta(seconds=10)
#: a run queued for a worker that no worker has claimed after this long is taken as lost
QUEUED_LEASE = timedelta(hours=1)


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PARTIAL = "partial"
    INTERRUPTED = "interrupted"


class Outcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    SKIPPED = "skipped"
    BLOCKED = "blocked"
    NOT_MAPPED = "not_mapped"
    #: a dry run's row: this change would be made
    PLANNED = "planned"
    #: held back by the tenant's approval threshold: sent only once an admin approves it
    AWAITING_APPROVAL = "awaiting"
    #: sent by a run that stopped before its answer was recorded, and the target cannot read it back (Gradient)
    UNCONFIRMED = "unconfirmed"


#: outcomes of a company that was meant to be pushed and was not (or not surely: ``unconfirmed``)
BAD = (Outcome.FAILED, Outcome.BLOCKED, Outcome.UNCONFIRMED)
GOOD = (Outcome.SUCCEEDED, Outcome.UNCHANGED)


def _now() -> datetime:
    return datetime.now(UTC)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_dead(run: PushRun, now: datetime) -> bool:
    if run.pid is None:  # queued for a worker, not claimed yet
        return now - run.started_at > QUEUED_LEASE
    beat = run.heartbeat_at or run.started_at
    if now - beat > LEASE:
        return True
    # on this host the process table answers at once; our own process's runs live on other threads
    same_host = run.host == socket.gethostname()
    return same_host and run.pid is not None and run.pid != os.getpid() and not _process_alive(run.pid)


def reap_stale_runs(session: Session, *, tenant_id: int, target: str, now: datetime | None = None) -> list[int]:
    """Mark every ``running`` run of this tenant and target whose process is gone as ``interrupted``."""
    now = now or _now()
    reaped: list[int] = []
    for run in session.scalars(
        select(PushRun).where(
            PushRun.tenant_id == tenant_id, PushRun.target == str(target), PushRun.status == RunStatus.RUNNING
        )
    ):
        if _is_dead(run, now):
            run.status = RunStatus.INTERRUPTED
            run.status_reason = (
                f"the process running it ({run.host}, pid {run.pid}) stopped before it finished; "
                "what it was sending is read back by the next push and recorded here"
                if run.pid is not None
                else "no worker took it up: nothing was pushed by it"
            )
            run.finished_at = run.heartbeat_at or run.started_at
            _store_counts(session, run)
            reaped.append(run.id)
    session.flush()
    return reaped


def start_run(
    session: Session,
    *,
    tenant_id: int,
    target: str,
    period: str,
    started_by: str,
    dry_run: bool = False,
    forced: bool = False,
    retry_failed: bool = False,
    queued: bool = False,
    skip_invoiced: bool = False,
    approved_over_threshold: bool = False,
) -> PushRun:
    """A new ``running`` run; refuses while another live run of the same tenant and target is going.

    ``queued``: a worker will run it (it claims the run then); otherwise this process runs it."""
    reap_stale_runs(session, tenant_id=tenant_id, target=target)
    live = session.scalar(
        select(PushRun).where(
            PushRun.tenant_id == tenant_id, PushRun.target == str(target), PushRun.status == RunStatus.RUNNING
        )
    )
    if live is not None:
        raise Conflict(
            f"a {target} push is already running (run {live.id} for {live.period}, started by "
            f"{live.started_by} at {live.started_at:%Y-%m-%d %H:%M} UTC); wait for it to finish"
        )
    now = _now()
    run = PushRun(
        tenant_id=tenant_id,
        target=str(target),
        period=period,
        started_by=started_by,
        started_at=now,
        status=RunStatus.RUNNING,
        dry_run=dry_run,
        forced=forced,
        retry_failed=retry_failed,
        skip_invoiced=skip_invoiced,
        approved_over_threshold=approved_over_threshold,
        host=None if queued else socket.gethostname(),
        pid=None if queued else os.getpid(),
        heartbeat_at=now,
    )
    session.add(run)
    try:
        session.flush()
    except IntegrityError as exc:  # uq_push_runs_live: another process started one in the meantime
        raise Conflict(f"a {target} push of this tenant was started at the same moment; wait for it to finish") from exc
    return run


def claim_run(session: Session, *, run_id: int) -> PushRun:
    """This process runs ``run_id`` now (a queued run, or one retried after its worker died): host, pid, heartbeat."""
    session.execute(
        update(PushRun)
        .where(PushRun.id == run_id, PushRun.status == RunStatus.RUNNING)
        .values(host=socket.gethostname(), pid=os.getpid(), heartbeat_at=_now())
        .execution_options(synchronize_session=False)
    )
    run = session.get(PushRun, run_id)
    if run is None:
        raise NotFound(f"no push run {run_id}")
    session.refresh(run)
    return run


def is_dead(run: PushRun, *, now: datetime | None = None) -> bool:
    """Whether a ``running`` run's process is gone (see ``reap_stale_runs``)."""
    return _is_dead(run, now or _now())


def _store_counts(session: Session, run: PushRun) -> dict[Outcome, int]:
    rows = session.execute(
        select(PushResult.outcome, func.count()).where(PushResult.run_id == run.id).group_by(PushResult.outcome)
    )
    counts = {Outcome(outcome): int(n) for outcome, n in rows}
    run.total = sum(counts.values())
    run.succeeded = counts.get(Outcome.SUCCEEDED, 0)
    run.failed = counts.get(Outcome.FAILED, 0)
    run.unchanged = counts.get(Outcome.UNCHANGED, 0)
    run.skipped = counts.get(Outcome.SKIPPED, 0)
    run.blocked = counts.get(Outcome.BLOCKED, 0)
    run.not_mapped = counts.get(Outcome.NOT_MAPPED, 0)
    return counts


def refresh_counts(session: Session, run: PushRun) -> None:
    """A run's counts again from its results (results were added to it after it stopped: ``push.intents``)."""
    _store_counts(session, run)
    session.flush()


def finish_run(session: Session, *, run_id: int, reason: str | None = None, failed: bool = False) -> PushRun:
    """Close a run: its counts, and its status from its results (or ``failed`` with ``reason``)."""
    run = session.get(PushRun, run_id)
    assert run is not None
    counts = _store_counts(session, run)
    good = sum(counts.get(o, 0) for o in GOOD)
    bad = sum(counts.get(o, 0) for o in BAD)
    if failed:
        run.status = RunStatus.FAILED
    elif bad == 0:
        run.status = RunStatus.SUCCEEDED
    elif good == 0:
        run.status = RunStatus.FAILED
    else:
        run.status = RunStatus.PARTIAL
    run.status_reason = reason
    run.finished_at = _now()
    session.flush()
    return run


def interrupt_run(session: Session, *, run_id: int, reason: str) -> None:
    """The run stopped early in this process (an exception, Ctrl-C): say so, keep what was recorded."""
    session.execute(
        update(PushRun)
        .where(PushRun.id == run_id, PushRun.status == RunStatus.RUNNING)
        .values(status=RunStatus.INTERRUPTED, status_reason=reason, finished_at=_now())
    )
    run = session.get(PushRun, run_id)
    if run is not None:
        _store_counts(session, run)


def expect_results(engine: Engine, *, run_id: int, count: int) -> None:
    """A running run's ``total`` is the number of results it will write (known once it has planned), so that any
    process can show its progress; on finishing it becomes the number written."""
    with engine.begin() as connection:
        connection.execute(
            update(PushRun).where(PushRun.id == run_id, PushRun.status == RunStatus.RUNNING).values(total=count)
        )


def heartbeat(session: Session, *, run_id: int) -> None:
    session.execute(update(PushRun).where(PushRun.id == run_id).values(heartbeat_at=_now()))


@contextmanager
def run_guard(engine: Engine, *, run_id: int) -> Iterator[None]:
    """Close a started run that does not reach its end: a deliberate error (not connected, a tenant gone ...)
    fails it with that reason; anything else (a crash, Ctrl-C) marks it ``interrupted``. Then re-raises."""
    try:
        yield
    except SeatsyncError as exc:
        with transaction(engine) as session:
            finish_run(session, run_id=run_id, reason=str(exc), failed=True)
        raise
    except BaseException as exc:
        with transaction(engine) as session:
            interrupt_run(session, run_id=run_id, reason=f"stopped early: {exc!r}")
        raise


class Recorder:
    """Writes a running run's results as they come, one short transaction per batch, beating its heart."""

    def __init__(self, engine: Engine, *, run_id: int) -> None:
        self.engine = engine
        self.run_id = run_id
        self._last_beat = _now()

    def write(self, add: Callable[[Session], None]) -> None:
        """``add(session)`` stores a batch of results; the run's heartbeat is written with it when due."""
        stamp = _now()
        with transaction(self.engine) as session:
            add(session)
            if stamp - self._last_beat >= HEARTBEAT_EVERY:
                heartbeat(session, run_id=self.run_id)
                self._last_beat = stamp


# -- queries for the CLI and the web -------------------------------------------------------------------------


def get_run(session: Session, *, tenant_id: int, run_id: int) -> PushRun:
    run = session.scalar(select(PushRun).where(PushRun.id == run_id, PushRun.tenant_id == tenant_id))
    if run is None:
        raise NotFound(f"no push run {run_id} for this tenant")
    return run


def list_runs(
    session: Session,
    *,
    tenant_id: int,
    target: str | None = None,
    period: str | None = None,
    include_dry_runs: bool = True,
    limit: int = 50,
    offset: int = 0,
) -> list[PushRun]:
    """Runs, newest first."""
    query = select(PushRun).where(PushRun.tenant_id == tenant_id)
    if target is not None:
        query = query.where(PushRun.target == str(target))
    if period is not None:
        query = query.where(PushRun.period == period)
    if not include_dry_runs:
        query = query.where(PushRun.dry_run.is_(False))
    query = query.order_by(PushRun.started_at.desc(), PushRun.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query))


# built once: the mapper asks for "Last Push" on every page
_LATEST_RUN = select(PushRun).where(
    PushRun.tenant_id == bindparam("tenant_id"),
    PushRun.target == bindparam("target"),
    PushRun.dry_run.is_(False),
    PushRun.status != RunStatus.RUNNING,
)
_NEWEST_FIRST = (PushRun.started_at.desc(), PushRun.id.desc())
_LATEST_RUN_ANY_PERIOD = _LATEST_RUN.order_by(*_NEWEST_FIRST).limit(1)
_LATEST_RUN_OF_PERIOD = _LATEST_RUN.where(PushRun.period == bindparam("period")).order_by(*_NEWEST_FIRST).limit(1)


def latest_run(session: Session, *, tenant_id: int, target: str, period: str | None = None) -> PushRun | None:
    """The newest real (not dry) run that is not still running."""
    params = {"tenant_id": tenant_id, "target": str(target)}
    if period is None:
        return session.scalar(_LATEST_RUN_ANY_PERIOD, params)
    return session.scalar(_LATEST_RUN_OF_PERIOD, {**params, "period": period})


_LAST_PUSH = _LATEST_RUN_ANY_PERIOD.with_only_columns(PushRun.finished_at)


def last_push(session: Session, *, tenant_id: int, target: str) -> datetime | None:
    """ "Last Push": the end of the latest finished real run, of any period (a mapper shows its period's:
    ``period_runs``)."""
    finished: datetime | None = session.connection().scalar(_LAST_PUSH, {"tenant_id": tenant_id, "target": str(target)})
    return finished


_RUNS_OF_PERIOD = select(PushRun.id, PushRun.status, PushRun.started_at, PushRun.finished_at).where(
    PushRun.tenant_id == bindparam("tenant_id"),
    PushRun.target == bindparam("target"),
    PushRun.period == bindparam("period"),
    PushRun.dry_run.is_(False),
)


@dataclass(frozen=True, slots=True)
class PeriodRuns:
    """The real runs of one target and period (a handful a month), read in one statement: what a mapper page
    shows of them (the period's "Last Push" and the run that is running) and what its cached push-result filters
    depend on."""

    #: (id, status) of every run, by id
    statuses: tuple[tuple[int, str], ...]
    #: the end of the latest finished run (started last; the highest id among runs started at one instant)
    last_push: datetime | None
    #: the newest running run's id (a page opened during a push follows it)
    running: int | None

    @classmethod
    def of(cls, rows: Iterable[tuple[int, str, datetime, datetime | None]]) -> PeriodRuns:
        """From the runs' (id, status, started_at, finished_at), in any order."""
        found = sorted(rows, key=lambda r: r[0])
        done = [(started, run_id, end) for run_id, status, started, end in found if status != RunStatus.RUNNING]
        return cls(
            tuple((run_id, status) for run_id, status, _started, _end in found),
            max(done, key=lambda r: (r[0], r[1]))[2] if done else None,
            max((run_id for run_id, status, _s, _e in found if status == RunStatus.RUNNING), default=None),
        )


def period_runs(session: Session, *, tenant_id: int, target: str, period: str) -> PeriodRuns:
    params = {"tenant_id": tenant_id, "target": str(target), "period": period}
    return PeriodRuns.of(session.connection().execute(_RUNS_OF_PERIOD, params))


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One per-company row of a run, with the company named (history pages, CSV export)."""

    run_id: int
    company_pk: int
    company_id: str
    company_name: str
    result: PushResult


def run_results(session: Session, *, tenant_id: int, run_id: int) -> list[ResultRow]:
    get_run(session, tenant_id=tenant_id, run_id=run_id)
    rows = session.execute(
        select(PushResult, Company.company_id, Company.name)
        .join(Company, Company.id == PushResult.company_pk)
        .where(PushResult.run_id == run_id, PushResult.tenant_id == tenant_id)
        .order_by(Company.company_id, PushResult.product, PushResult.service)
    )
    return [ResultRow(run_id, r.company_pk, cid, name, r) for r, cid, name in rows]


def latest_results(session: Session, *, tenant_id: int, target: str, period: str) -> dict[int, PushResult]:
    """Per company, its result in the newest real run of ``period`` that has one (the mapper's Billing Status).

    A retry-failed pass only touches failed companies, so the others keep their result from earlier runs.
    """
    newest = (
        select(PushResult.company_pk, func.max(PushResult.run_id).label("run_id"))
        .join(PushRun, PushRun.id == PushResult.run_id)
        .where(
            PushRun.tenant_id == tenant_id,
            PushRun.target == str(target),
            PushRun.period == period,
            PushRun.dry_run.is_(False),
        )
        .group_by(PushResult.company_pk)
        .subquery()
    )
    rows = session.scalars(
        select(PushResult).join(
            newest, (newest.c.company_pk == PushResult.company_pk) & (newest.c.run_id == PushResult.run_id)
        )
    )
    return {r.company_pk: r for r in rows}


HISTORY_COLUMNS = (
    "run_id",
    "target",
    "period",
    "started_by",
    "started_at",
    "finished_at",
    "run_status",
    "dry_run",
    "company_id",
    "company_name",
    "product",
    "service",
    "service_name",
    "outcome",
    "quantity_before",
    "quantity_after",
    "billable",
    "cw_company_id",
    "agreement_id",
    "addition_id",
    "document_id",
    "remote_id",
    "attempts",
    "reason",
    "report_sha256",
)


def history_rows(
    session: Session,
    *,
    tenant_id: int,
    target: str | None = None,
    period: str | None = None,
    run_id: int | None = None,
    limit: int = 50,
) -> list[tuple[object, ...]]:
    """Flat per-company rows of the newest ``limit`` runs (or one run), in ``HISTORY_COLUMNS`` order: the
    history CSV export."""
    chosen = (
        [get_run(session, tenant_id=tenant_id, run_id=run_id)]
        if run_id is not None
        else list_runs(session, tenant_id=tenant_id, target=target, period=period, limit=limit)
    )
    out: list[tuple[object, ...]] = []
    for run in chosen:
        for row in run_results(session, tenant_id=tenant_id, run_id=run.id):
            r = row.result
            out.append(
                (
                    run.id,
                    run.target,
                    run.period,
                    run.started_by,
                    run.started_at.isoformat(),
                    run.finished_at.isoformat() if run.finished_at else "",
                    run.status,
                    run.dry_run,
                    row.company_id,
                    row.company_name,
                    r.product,
                    r.service,
                    product_name(r.product) if r.service else None,
                    r.outcome,
                    r.quantity_before,
                    r.quantity_after,
                    r.billable,
                    r.cw_company_id,
                    r.agreement_id,
                    r.addition_id,
                    r.document_id,
                    r.remote_id,
                    r.attempts,
                    r.reason,
                    r.report_sha256,
                )
            )
    return out
