"""The monthly Gradient schedule, run against the database: on the 1st at 00:00 in each tenant's zone, the
previous month; a 1st missed while seatsync was down is caught up at the next start, once.

    started = run_due(engine, now=datetime.now(UTC))        # the single entry point: serve, a job queue, tests
    scheduler = Scheduler(engine); scheduler.start() ... scheduler.stop()   # run_due at start, then every minute
    when = next_scheduled_push(session, tenant=t, now=now)  # for the web page

Which periods are due comes from ``seatsync.domain.schedule.due_periods``, given the newest period a
*scheduled* push completed (``scheduled_pushes`` joined with its run: a "push now" of an unfinished month
does not count) and when Gradient was connected (earlier months are not caught up).

Exactly once, across processes: before pushing a period, the schedule inserts its claim on
(tenant, target, period) in the same transaction that starts the run. The unique key lets one process win;
the others see the claim and leave the period alone. A claim whose run was interrupted (its process died)
is taken again at the next tick; one whose run failed (Gradient down, every count refused) after
``RETRY_AFTER``; either at most ``MAX_ATTEMPTS`` times in all. A tenant whose connection is broken (401) is
left alone until it is reconnected, then its missed months are caught up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seatsync.db.engine import transaction
from seatsync.db.models import Integration, PushRun, ScheduledPush, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.domain.schedule import due_periods, next_run, push_instant
from seatsync.errors import Conflict
from seatsync.push import gradient as gradient_push
from seatsync.push import runs
from seatsync.push.runs import RunStatus, Target
from seatsync.services import gradient as gradient_service

log = logging.getLogger(__name__)

STARTED_BY = "schedule"
#: how many times one period's scheduled push is tried in all
MAX_ATTEMPTS = 3
#: how long after a failed scheduled push the schedule tries that period again
RETRY_AFTER = timedelta(minutes=15)
#: a scheduled run that ended so is done: the period is not pushed by the schedule again
DONE = (RunStatus.SUCCEEDED, RunStatus.PARTIAL)
TARGET = Target.GRADIENT


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


def last_scheduled(session: Session, *, tenant_id: int) -> BillingPeriod | None:
    """The newest period whose scheduled push completed (succeeded or partial)."""
    newest = session.scalar(
        select(func.max(ScheduledPush.period))  # YYYY-MM sorts as text
        .join(PushRun, PushRun.id == ScheduledPush.run_id)
        .where(
            ScheduledPush.tenant_id == tenant_id,
            ScheduledPush.target == TARGET.value,
            PushRun.status.in_([s.value for s in DONE]),
        )
    )
    return BillingPeriod.parse(newest) if newest else None


def _retakeable(session: Session, claim: ScheduledPush) -> bool:
    """Whether a period already claimed should be pushed again by the schedule (see the module text).

    Judged on the wall clock, not the schedule's ``now``: heartbeats and finish times are real instants."""
    now = datetime.now(UTC)
    if claim.attempts >= MAX_ATTEMPTS:
        return False
    run = session.get(PushRun, claim.run_id) if claim.run_id is not None else None
    if run is None:
        return True  # its run was deleted
    if run.status == RunStatus.RUNNING:
        runs.reap_stale_runs(session, tenant_id=claim.tenant_id, target=TARGET, now=now)
        session.refresh(run)
    if run.status == RunStatus.INTERRUPTED:
        return True
    if run.status == RunStatus.FAILED:
        return now - (run.finished_at or run.started_at) >= RETRY_AFTER
    return False


def _open_periods(session: Session, *, tenant: Tenant, since: datetime | None, now: datetime) -> list[BillingPeriod]:
    """The periods the schedule may push now, oldest first: the due ones not claimed yet, and the claimed ones
    whose run may be tried again (even from before a reconnect, which moves ``since``)."""
    due = due_periods(now, tenant.time_zone, last_scheduled(session, tenant_id=tenant.id), since=since)
    claims = {
        c.period: c
        for c in session.scalars(
            select(ScheduledPush).where(ScheduledPush.tenant_id == tenant.id, ScheduledPush.target == TARGET.value)
        )
    }  # one a month at most
    fresh = {p for p in due if str(p) not in claims}
    retry = {BillingPeriod.parse(period) for period, claim in claims.items() if _retakeable(session, claim)}
    return sorted(fresh | retry)


def _claim_and_start(engine: Engine, *, tenant_id: int, period: BillingPeriod) -> int | None:
    """Claim ``period`` for this process and start its run, in one transaction; None when another process
    has it (or another Gradient push of the tenant is running: the next tick tries again)."""
    try:
        with transaction(engine) as session:
            tenant = session.get(Tenant, tenant_id)
            assert tenant is not None
            claim = session.scalar(
                select(ScheduledPush).where(
                    ScheduledPush.tenant_id == tenant_id,
                    ScheduledPush.target == TARGET.value,
                    ScheduledPush.period == str(period),
                )
            )
            if claim is None:
                claim = ScheduledPush(tenant_id=tenant_id, target=TARGET.value, period=str(period))
                session.add(claim)
                session.flush()  # the unique key: a second process fails here (IntegrityError)
            else:
                if not _retakeable(session, claim):
                    return None
                taken = session.execute(
                    update(ScheduledPush)
                    .where(ScheduledPush.id == claim.id, ScheduledPush.attempts == claim.attempts)
                    .values(attempts=claim.attempts + 1, claimed_at=datetime.now(UTC))
                    .execution_options(synchronize_session=False)
                )
                if taken.rowcount != 1:  # type: ignore[attr-defined]
                    return None  # another process re-took it first
            run = gradient_push.start(session, tenant=tenant, period=period, started_by=STARTED_BY)
            session.execute(
                update(ScheduledPush)
                .where(ScheduledPush.id == claim.id)
                .values(run_id=run.id)
                .execution_options(synchronize_session=False)
            )
            return run.id
    except IntegrityError:
        return None
    except Conflict as exc:
        log.info("scheduled Gradient push of %s for tenant %s waits: %s", period, tenant_id, exc)
        return None


def _connected_tenants(session: Session) -> list[tuple[Tenant, datetime | None]]:
    rows = session.execute(
        select(Tenant, Integration)
        .join(Integration, Integration.tenant_id == Tenant.id)
        .where(Integration.kind == gradient_service.KIND)
        .order_by(Tenant.id)
    )
    return [(t, i.connected_at) for t, i in rows if gradient_service.is_connected(i)]


def run_due(engine: Engine, *, now: datetime, client_factory: gradient_push.ClientFactory | None = None) -> list[int]:
    """Push every period due at ``now`` for every tenant with Gradient connected; returns the runs started.

    Safe to call from several processes at once and as often as wanted: each period is pushed once. One tenant's
    trouble (logged) does not keep the others from being pushed.
    """
    now = _aware(now)
    with transaction(engine) as session:
        tenants = [(t.id, t.slug, since) for t, since in _connected_tenants(session)]
    started: list[int] = []
    for tenant_id, slug, since in tenants:
        try:
            started.extend(_run_tenant(engine, tenant_id=tenant_id, since=since, now=now, factory=client_factory))
        except Exception:
            log.exception("the scheduled Gradient push of tenant %s failed", slug)
    return started


def _run_tenant(
    engine: Engine,
    *,
    tenant_id: int,
    since: datetime | None,
    now: datetime,
    factory: gradient_push.ClientFactory | None,
) -> list[int]:
    with transaction(engine) as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        periods = _open_periods(session, tenant=tenant, since=since, now=now)
    started: list[int] = []
    for period in periods:  # oldest first: every missed month reaches Gradient
        run_id = _claim_and_start(engine, tenant_id=tenant_id, period=period)
        if run_id is None:
            continue
        started.append(run_id)
        gradient_push.execute(engine, run_id=run_id, client_factory=factory)
        with transaction(engine) as session:
            tenant = session.get(Tenant, tenant_id)
            assert tenant is not None
            if not gradient_service.is_connected(gradient_service.get_integration(session, tenant=tenant)):
                break  # refused (401): the rest waits for a reconnect
    return started


def next_scheduled_push(session: Session, *, tenant: Tenant, now: datetime) -> datetime | None:
    """When the schedule pushes next (UTC), for the web page; None when Gradient is not connected (or broken).

    An instant before ``now`` means a period is overdue: the next tick (within a minute while seatsync runs)
    catches it up.
    """
    now = _aware(now)
    integration = gradient_service.get_integration(session, tenant=tenant)
    if integration is None or not gradient_service.is_connected(integration):
        return None
    pending = _open_periods(session, tenant=tenant, since=integration.connected_at, now=now)
    if pending:
        return push_instant(pending[0], tenant.time_zone)
    return next_run(now, tenant.time_zone)


class Scheduler:
    """An in-process loop for ``seatsync serve``: ``run_due`` at start, then every ``interval`` seconds.

    ``clock`` returns the current instant (aware); tests inject one. ``stop`` waits for a push in progress.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        interval: float = 60.0,
        client_factory: gradient_push.ClientFactory | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.interval = interval
        self.client_factory = client_factory
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: every run the loop started, oldest first
        self.started: list[int] = []

    def tick(self) -> list[int]:
        try:
            started = run_due(self.engine, now=self.clock(), client_factory=self.client_factory)
        except Exception:
            log.exception("the Gradient schedule could not run (database unavailable?); trying again")
            return []
        self.started.extend(started)
        return started

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.interval)

    def start(self) -> Scheduler:
        if self._thread is not None:
            raise RuntimeError("the scheduler is already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="seatsync-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


__all__ = ["MAX_ATTEMPTS", "RETRY_AFTER", "Scheduler", "last_scheduled", "next_scheduled_push", "run_due"]
