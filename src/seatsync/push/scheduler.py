"""The monthly schedule of every billing target, run against the database: each tenant's schedule per target
(``target_automation``, ``seatsync schedule set``: day 1-28 or last, HH:MM in the tenant's zone, previous or
current month; without one, Gradient's default of the 1st at 00:00, the previous month, and no schedule for the
PSAs). A fire missed while seatsync was down is caught up at the next start, once (and people are told).

    started = run_due(engine, now=datetime.now(UTC))        # the single entry point: serve, tests
    scheduler = Scheduler(engine); scheduler.start() ... scheduler.stop()   # run_due at start, then every minute
    when = next_scheduled_push(session, tenant=t, now=now)  # for the web page
    for target in scheduled_targets():                      # the distributed fan-out (``seatsync.jobs.fanout``)
        for tenant, since in connected_tenants(session, target=target.key):
            periods = open_periods(session, tenant=tenant, target=target.key, since=since, now=now)
            run = claim_and_start(session, tenant=tenant, target=target.key, period=p, queued=True)

One scheduler per deployment: the in-process ``Scheduler`` on SQLite (and whenever no worker runs the periodic
task), the Procrastinate periodic task on PostgreSQL with workers; both use the functions above.

Which periods are due comes from ``seatsync.domain.monthly.MonthlySchedule.due``, given the newest period a
*scheduled* push completed (``scheduled_pushes`` joined with its run: a "push now" of an unfinished month
does not count) and when the target was connected or the schedule last set (earlier months are not caught up).

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
from datetime import UTC, datetime, timedelta, tzinfo

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seatsync.config import get_settings
from seatsync.db.engine import transaction
from seatsync.db.models import Integration, PushRun, ScheduledPush, Tenant
from seatsync.domain.monthly import MonthlySchedule
from seatsync.domain.periods import BillingPeriod, time_zone
from seatsync.errors import Conflict
from seatsync.push import engine as push_engine
from seatsync.push import runs
from seatsync.push.runs import RunStatus
from seatsync.services import automation, notifications
from seatsync.targets.base import BillingTarget, ClientFactory, PushOptions
from seatsync.targets.registry import all_targets, get_target

log = logging.getLogger(__name__)

STARTED_BY = "schedule"
#: how many times one period's scheduled push is tried in all
MAX_ATTEMPTS = 3
#: how long after a failed scheduled push the schedule tries that period again
RETRY_AFTER = timedelta(minutes=15)
#: a scheduled run that ended so is done: the period is not pushed by the schedule again
DONE = (RunStatus.SUCCEEDED, RunStatus.PARTIAL)
#: the target of the functions below when none is named (the one scheduled target before the seam)
DEFAULT_TARGET = "gradient"


def scheduled_targets() -> list[BillingTarget]:
    """The registered targets the monthly schedule may push: every one (each tenant's schedule per target is in
    ``target_automation``; without one, a target's default: Gradient day 1 00:00 previous month, the PSAs none)."""
    return list(all_targets())


def tenant_schedule(session: Session, *, tenant: Tenant, target: str) -> tuple[MonthlySchedule | None, datetime | None]:
    """The tenant's schedule for ``target`` (None: not scheduled), and when it was last set (None: the default)."""
    row = automation.automation_for(session, tenant_id=tenant.id, target=target)
    chosen = automation.schedule_of(row, target)
    set_at = row.updated_at if row is not None and row.schedule_enabled else None
    return chosen, set_at


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


def last_scheduled(session: Session, *, tenant_id: int, target: str = DEFAULT_TARGET) -> BillingPeriod | None:
    """The newest period whose scheduled push completed (succeeded or partial)."""
    newest = session.scalar(
        select(func.max(ScheduledPush.period))  # YYYY-MM sorts as text
        .join(PushRun, PushRun.id == ScheduledPush.run_id)
        .where(
            ScheduledPush.tenant_id == tenant_id,
            ScheduledPush.target == target,
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
        runs.reap_stale_runs(session, tenant_id=claim.tenant_id, target=claim.target, now=now)
        session.refresh(run)
    if run.status == RunStatus.INTERRUPTED:
        return True
    if run.status == RunStatus.FAILED:
        return now - (run.finished_at or run.started_at) >= RETRY_AFTER
    return False


def open_periods(
    session: Session, *, tenant: Tenant, since: datetime | None, now: datetime, target: str = DEFAULT_TARGET
) -> list[BillingPeriod]:
    """The periods the schedule may push now, oldest first: the due ones not claimed yet, and the claimed ones
    whose run may be tried again (even from before a reconnect, which moves ``since``). A schedule set by the
    tenant catches up nothing from before it was set."""
    schedule, set_at = tenant_schedule(session, tenant=tenant, target=target)
    if schedule is None:
        return []
    if set_at is not None:
        since = max(since, set_at) if since is not None else set_at
    due = schedule.due(
        now,
        time_zone(tenant.time_zone),
        last_done=last_scheduled(session, tenant_id=tenant.id, target=target),
        since=since,
    )
    claims = {
        c.period: c
        for c in session.scalars(
            select(ScheduledPush).where(ScheduledPush.tenant_id == tenant.id, ScheduledPush.target == target)
        )
    }  # one a month at most
    fresh = {p for p in due if str(p) not in claims}
    retry = {BillingPeriod.parse(period) for period, claim in claims.items() if _retakeable(session, claim)}
    return sorted(fresh | retry)


def claim_attempts(session: Session, *, tenant_id: int, target: str = DEFAULT_TARGET) -> dict[str, int]:
    """period -> how many times the schedule has taken it so far."""
    rows = session.execute(
        select(ScheduledPush.period, ScheduledPush.attempts).where(
            ScheduledPush.tenant_id == tenant_id, ScheduledPush.target == target
        )
    )
    return {str(period): int(attempts) for period, attempts in rows}


def claim_and_start(
    session: Session,
    *,
    tenant: Tenant,
    period: BillingPeriod,
    target: str = DEFAULT_TARGET,
    queued: bool = False,
    now: datetime | None = None,
) -> PushRun | None:
    """In the caller's transaction: claim ``period`` for the schedule and start its run; None when the claim is
    another's (already pushed, or re-taken first). Raises ``IntegrityError`` when another process inserted the
    claim at the same moment and ``Conflict`` while another push of the tenant and target runs: roll back then.
    ``queued``: a worker will run it (``seatsync.push.engine.execute``)."""
    claim = session.scalar(
        select(ScheduledPush).where(
            ScheduledPush.tenant_id == tenant.id,
            ScheduledPush.target == target,
            ScheduledPush.period == str(period),
        )
    )
    if claim is None:
        claim = ScheduledPush(tenant_id=tenant.id, target=target, period=str(period))
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
    row = automation.automation_for(session, tenant_id=tenant.id, target=target)
    # the schedule's own options (``schedule set --skip-invoiced``): a run carried on or approved later keeps them
    skip_invoiced = row is not None and row.schedule_skip_invoiced
    run = push_engine.start(
        session,
        tenant=tenant,
        target=target,
        options=PushOptions(period, started_by=STARTED_BY, skip_invoiced=skip_invoiced),
        queued=queued,
        now=now,  # the schedule's clock: a period it finds due has started on it
    )
    session.execute(
        update(ScheduledPush)
        .where(ScheduledPush.id == claim.id)
        .values(run_id=run.id)
        .execution_options(synchronize_session=False)
    )
    return run


def _claim_and_start(
    engine: Engine, *, tenant_id: int, period: BillingPeriod, target: str, now: datetime
) -> int | None:
    """``claim_and_start`` in its own transaction; None when another process has it (or another push of the
    tenant and target is running: the next tick tries again)."""
    try:
        with transaction(engine) as session:
            tenant = session.get(Tenant, tenant_id)
            assert tenant is not None
            run = claim_and_start(session, tenant=tenant, period=period, target=target, now=now)
            return run.id if run is not None else None
    except IntegrityError:
        return None
    except Conflict as exc:
        log.info("scheduled %s push of %s for tenant %s waits: %s", target, period, tenant_id, exc)
        return None


def connected_tenants(session: Session, *, target: str = DEFAULT_TARGET) -> list[tuple[Tenant, datetime | None]]:
    """Every tenant with a working connection to ``target``, and since when (earlier months are not caught up)."""
    chosen = get_target(target)
    tenants = session.scalars(
        select(Tenant)
        .join(Integration, Integration.tenant_id == Tenant.id)
        .where(Integration.kind == chosen.key)
        .order_by(Tenant.id)
    )
    out: list[tuple[Tenant, datetime | None]] = []
    for tenant in tenants:
        since = chosen.connected_since(session, tenant=tenant)
        if since is not None:
            out.append((tenant, since))
    return out


def run_due(
    engine: Engine, *, now: datetime, client_factory: ClientFactory | None = None, shared_pacing: bool = False
) -> list[int]:
    """Push every period due at ``now`` of every scheduled target for every tenant connected to it; returns the
    runs started.

    Safe to call from several processes at once and as often as wanted: each period is pushed once. One tenant's
    trouble (logged) does not keep the others from being pushed.
    """
    now = _aware(now)
    started: list[int] = []
    for target in scheduled_targets():
        with transaction(engine) as session:
            tenants = [(t.id, t.slug, since) for t, since in connected_tenants(session, target=target.key)]
        for tenant_id, slug, since in tenants:
            try:
                started.extend(
                    _run_tenant(
                        engine,
                        tenant_id=tenant_id,
                        target=target,
                        since=since,
                        now=now,
                        factory=client_factory,
                        shared_pacing=shared_pacing,
                    )
                )
            except Exception:
                log.exception("the scheduled %s push of tenant %s failed", target.label, slug)
    return started


def _run_tenant(
    engine: Engine,
    *,
    tenant_id: int,
    target: BillingTarget,
    since: datetime | None,
    now: datetime,
    factory: ClientFactory | None,
    shared_pacing: bool,
) -> list[int]:
    with transaction(engine) as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        periods = open_periods(session, tenant=tenant, since=since, now=now, target=target.key)
    started: list[int] = []
    for period in periods:  # oldest first: every missed month reaches the target
        run_id = _claim_and_start(engine, tenant_id=tenant_id, period=period, target=target.key, now=now)
        if run_id is None:
            continue
        _tell_missed(engine, tenant_id=tenant_id, target=target.key, period=period, now=now)
        started.append(push_engine.execute(engine, run_id=run_id, client_factory=factory, shared_pacing=shared_pacing))
        with transaction(engine) as session:
            tenant = session.get(Tenant, tenant_id)
            assert tenant is not None
            if target.connected_since(session, tenant=tenant) is None:
                break  # refused (401): the rest waits for a reconnect
    return started


def next_scheduled_push(
    session: Session, *, tenant: Tenant, now: datetime, target: str = DEFAULT_TARGET
) -> datetime | None:
    """When the schedule pushes ``target`` next (UTC), for the web page; None when it is not connected (or broken).

    An instant before ``now`` means a period is overdue: the next tick (within a minute while seatsync runs)
    catches it up.
    """
    now = _aware(now)
    since = get_target(target).connected_since(session, tenant=tenant)
    if since is None:
        return None
    schedule, _ = tenant_schedule(session, tenant=tenant, target=target)
    if schedule is None:
        return None
    zone = time_zone(tenant.time_zone)
    pending = open_periods(session, tenant=tenant, since=since, now=now, target=target)
    if pending:
        return fire_of(schedule, pending[0], zone)
    return schedule.next_fire(now, zone)


def fire_of(schedule: MonthlySchedule, period: BillingPeriod, zone: tzinfo) -> datetime:
    """When ``schedule`` pushes ``period``."""
    return schedule.fire(period.next() if schedule.period == "previous" else period, zone)


#: a scheduled push that starts this much after its time was missed (seatsync was not running): people are told
MISSED_AFTER = timedelta(minutes=15)


def _tell_missed(engine: Engine, *, tenant_id: int, target: str, period: BillingPeriod, now: datetime) -> None:
    with transaction(engine) as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        schedule, _ = tenant_schedule(session, tenant=tenant, target=target)
        if schedule is None:
            return
        due = fire_of(schedule, period, time_zone(tenant.time_zone))
        if now - due < MISSED_AFTER:
            return
        settings = get_settings()
        event = notifications.schedule_missed_event(
            tenant=tenant, target=target, period=str(period), due=due, settings=settings
        )
    notifications.deliver(engine, settings=settings, tenant_id=tenant_id, event=event)


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
        client_factory: ClientFactory | None = None,
        enabled: Callable[[], bool] = lambda: True,
        shared_pacing: bool = False,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.interval = interval
        self.client_factory = client_factory
        #: asked at each tick: False while another scheduler (the workers' periodic task) has the schedule
        self.enabled = enabled
        self.shared_pacing = shared_pacing
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: every run the loop started, oldest first
        self.started: list[int] = []

    def tick(self) -> list[int]:
        try:
            if not self.enabled():
                return []
            started = run_due(
                self.engine, now=self.clock(), client_factory=self.client_factory, shared_pacing=self.shared_pacing
            )
        except Exception:
            log.exception("the schedule could not run (database unavailable?); trying again")
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


__all__ = [
    "DEFAULT_TARGET",
    "MAX_ATTEMPTS",
    "RETRY_AFTER",
    "STARTED_BY",
    "Scheduler",
    "claim_and_start",
    "claim_attempts",
    "connected_tenants",
    "last_scheduled",
    "next_scheduled_push",
    "open_periods",
    "run_due",
    "scheduled_targets",
]
