"""The one code path of every job, whoever runs it (a thread of ``seatsync serve`` or a ``seatsync worker``).

Jobs only call the engine (``seatsync.push.engine.execute``: one job ``execute_push(run_id)`` for every target)
and ``seatsync.services.gradient.sync_accounts``; what differs between the two dispatchers is only the pacing:
with ``shared_pacing`` (the distributed queue) the clients' rate limiters are the PostgreSQL buckets of
``seatsync.jobs.limiter``, so the limits hold across every worker.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, func, select

from seatsync.config import Settings
from seatsync.db.engine import session_factory, transaction
from seatsync.db.models import PushResult, PushRun, Tenant
from seatsync.errors import NotFound
from seatsync.jobs import observe
from seatsync.push import engine as push_engine

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


class Task(enum.StrEnum):
    EXECUTE_PUSH = "execute_push"
    SYNC_ACCOUNTS = "sync_accounts"
    #: the monthly schedule of every scheduled target (``seatsync.push.scheduler``)
    PUSH_SCHEDULE = "push_schedule"


def push_lock(tenant_id: int, target: str) -> str:
    """One push per tenant and target at a time, cluster-wide (the job lock)."""
    return f"push:{tenant_id}:{target}"


def run_push_job(
    engine: Engine,
    *,
    settings: Settings,
    run_id: int,
    progress: Progress | None = None,
    shared_pacing: bool = False,
    job_id: int | None = None,
) -> int:
    """Carry out one started push run to its end (``seatsync.push.engine.execute``); returns the run id carried
    out (a continuation's when the run's process had died)."""
    with transaction(engine) as session:
        run = session.get(PushRun, run_id)
        if run is None:
            raise NotFound(f"no push run {run_id}")
        tenant_id, target, period = run.tenant_id, run.target, run.period
    with observe.bound(tenant_id=tenant_id, target=target, period=period, job_id=job_id, run_id=run_id) as ctx:
        log.info("push started")
        done = push_engine.execute(
            engine, run_id=run_id, settings=settings, shared_pacing=shared_pacing, progress=progress
        )
        ctx.update(run_id=done)
        log.info("push finished: %s", record_outcomes(engine, run_id=done))
        return done


def record_outcomes(engine: Engine, *, run_id: int) -> str:
    """Count the run's per-company outcomes in this process's metrics; returns the run's status."""
    with transaction(engine) as session:
        run = session.get(PushRun, run_id)
        if run is None:
            raise NotFound(f"no push run {run_id}")
        for outcome, n in session.execute(
            select(PushResult.outcome, func.count()).where(PushResult.run_id == run_id).group_by(PushResult.outcome)
        ):
            observe.PUSH_OUTCOMES.labels(run.target, outcome).inc(n)
        observe.PUSH_RUNS.labels(run.target, run.status).inc()
        return run.status


def run_sync_accounts_job(
    engine: Engine, *, settings: Settings, tenant_id: int, shared_pacing: bool = False, job_id: int | None = None
) -> dict[str, int]:
    """Make every company a Gradient account (``seatsync.services.gradient.sync_accounts``); counts by change."""
    from seatsync.services import gradient
    from seatsync.targets.gradient import TARGET

    with observe.bound(tenant_id=tenant_id, task=Task.SYNC_ACCOUNTS.value, job_id=job_id):
        with session_factory(engine)() as session:
            tenant = session.get(Tenant, tenant_id)
            if tenant is None:
                raise NotFound(f"no tenant {tenant_id}")
            try:
                with TARGET.client(
                    session, tenant, settings=settings, engine=engine, shared_pacing=shared_pacing
                ) as client:
                    report = gradient.sync_accounts(session, tenant=tenant, client=client)
            finally:
                session.commit()  # a refused token marks the integration broken before raising: keep the mark
        counts = {
            "created": len(report.created),
            "renamed": len(report.renamed),
            "unchanged": len(report.unchanged),
            "already_present": len(report.already_present),
        }
        log.info("accounts synced: %s", counts)
        return counts


def timed(task: Task | str, work: Callable[[], Any]) -> Any:
    """Run ``work``, observing its duration under ``task`` and its outcome (ok or the error's class)."""
    start = time.monotonic()
    outcome = "ok"
    try:
        return work()
    except BaseException as exc:
        outcome = type(exc).__name__
        raise
    finally:
        observe.JOB_DURATION.labels(str(task), outcome).observe(time.monotonic() - start)
