"""The monthly schedule, distributed: one job per scheduled target, tenant and due period, enqueued exactly once.

The periodic task ``push_schedule`` (one job per minute for the whole cluster) calls ``enqueue_due``. The periods
open for each target and tenant are the schedule's own (``seatsync.push.scheduler.open_periods``: due and
unclaimed, or claimed with a run that may be tried again). For each, in **one transaction**: a claim on (target,
tenant, period, attempt) in ``seatsync_fanout``, the schedule's claim in ``scheduled_pushes`` with the run it
starts (``scheduler.claim_and_start``, queued for a worker), and the ``execute_push`` job. The three exist together
or not at all, so a second trigger (the next minute, another worker, an operator) enqueues nothing; a period whose
target still has a push running (queued or running: the partial unique index refuses a second run) waits for the
next tick.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seatsync.config import Settings
from seatsync.db.engine import transaction
from seatsync.db.models import Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.errors import Conflict
from seatsync.jobs.work import Task, push_lock
from seatsync.push import scheduler
from seatsync.targets.registry import get_target

log = logging.getLogger(__name__)

_CLAIM = text(
    "INSERT INTO seatsync_fanout (target, period, tenant_id, attempt) VALUES (:target, :period, :tenant_id, :attempt) "
    "ON CONFLICT DO NOTHING RETURNING tenant_id"
)
_SET_JOB = text(
    "UPDATE seatsync_fanout SET job_id = :job_id "
    "WHERE target = :target AND period = :period AND tenant_id = :tenant_id AND attempt = :attempt"
)


class _Taken(Exception):
    """The schedule's claim is another's: roll the fan-out's claim back."""


def due(engine: Engine, *, now: datetime) -> list[tuple[str, int, BillingPeriod, int]]:
    """(target, tenant id, period, attempts so far) of every scheduled push open at ``now``, oldest first."""
    out: list[tuple[str, int, BillingPeriod, int]] = []
    with transaction(engine) as session:
        for target in scheduler.scheduled_targets():
            for tenant, since in scheduler.connected_tenants(session, target=target.key):
                attempts = scheduler.claim_attempts(session, tenant_id=tenant.id, target=target.key)
                for period in scheduler.open_periods(session, tenant=tenant, since=since, now=now, target=target.key):
                    out.append((target.key, tenant.id, period, attempts.get(str(period), 0)))
    return out


def enqueue_due(engine: Engine, settings: Settings, *, now: datetime) -> list[int]:
    """Claim, start and enqueue every due (target, tenant, period) not claimed before; the job ids enqueued now."""
    from seatsync.jobs.procrastinate_app import JobQueue

    queue = JobQueue(settings.database_url)
    enqueued: list[int] = []
    try:
        for target, tenant_id, period, attempt in due(engine, now=now):
            key = {"target": target, "period": str(period), "tenant_id": tenant_id, "attempt": attempt}
            try:
                with engine.begin() as conn:
                    if conn.execute(_CLAIM, key).first() is None:
                        continue  # enqueued before
                    with Session(bind=conn) as session:
                        tenant = session.get(Tenant, tenant_id)
                        assert tenant is not None
                        run = scheduler.claim_and_start(
                            session, tenant=tenant, period=period, target=target, queued=True, now=now
                        )
                        if run is None:
                            raise _Taken
                        run_id = run.id
                        session.flush()
                    # the job row is inserted in this transaction: the claims, the run and the job exist together
                    job_id, _ = queue.defer(
                        Task.EXECUTE_PUSH.value,
                        {"run_id": run_id},
                        lock=push_lock(tenant_id, target),
                        queueing_lock=None,
                        connection=conn.connection.driver_connection,
                        queue=get_target(target).queue,
                    )
                    conn.execute(_SET_JOB, {**key, "job_id": job_id})
            except (_Taken, IntegrityError):
                continue  # another process has the period
            except Conflict as exc:
                log.info("scheduled %s push of %s for tenant %s waits: %s", target, period, tenant_id, exc)
                continue
            enqueued.append(job_id)
            log.info(
                "scheduled %s push of %s for tenant %s queued (job %s, run %s)",
                target,
                period,
                tenant_id,
                job_id,
                run_id,
            )
    finally:
        queue.close()
    return enqueued
