"""The monthly Gradient schedule, distributed: one job per tenant and due period, enqueued exactly once.

The periodic task ``gradient_schedule`` (one job per minute for the whole cluster) calls ``enqueue_due``. The
periods open for each tenant are the schedule's own (``seatsync.push.scheduler``: due and unclaimed, or claimed
with a run that may be tried again). For each, unless a job for it is still queued or running (a job of a dead
worker is retried by the stalled-job check, not enqueued again), a claim on (tenant, period, attempt) is inserted
in ``seatsync_fanout`` and the ``push_gradient`` job is deferred *in the same transaction*: the claim exists if
and only if the job was queued, so a second trigger (the next minute, another worker, an operator) enqueues
nothing. The job then claims the period in ``scheduled_pushes`` before sending anything, so even a job run twice
pushes the period once.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine, select, text

from seatsync.config import Settings
from seatsync.db.engine import transaction
from seatsync.db.models import ScheduledPush
from seatsync.domain.periods import BillingPeriod
from seatsync.jobs.dispatch import push_lock
from seatsync.jobs.work import Task
from seatsync.push.runs import Target

log = logging.getLogger(__name__)

STARTED_BY = "schedule"

_CLAIM = text(
    "INSERT INTO seatsync_fanout (target, period, tenant_id, attempt) VALUES (:target, :period, :tenant_id, :attempt) "
    "ON CONFLICT DO NOTHING RETURNING tenant_id"
)
_SET_JOB = text(
    "UPDATE seatsync_fanout SET job_id = :job_id "
    "WHERE target = :target AND period = :period AND tenant_id = :tenant_id AND attempt = :attempt"
)
_LIVE_JOB = text(
    "SELECT id FROM procrastinate_jobs WHERE task_name = :task AND status IN ('todo', 'doing') "
    "AND args->>'tenant_id' = :tenant AND args->>'period' = :period AND (args->>'scheduled')::boolean LIMIT 1"
)


def due(engine: Engine, *, now: datetime) -> list[tuple[int, BillingPeriod, int]]:
    """(tenant id, period, attempts so far) of every scheduled Gradient push open at ``now``, oldest first."""
    from seatsync.push import scheduler

    out: list[tuple[int, BillingPeriod, int]] = []
    with transaction(engine) as session:
        for tenant, since in scheduler._connected_tenants(session):
            attempts = dict(
                session.execute(
                    select(ScheduledPush.period, ScheduledPush.attempts).where(
                        ScheduledPush.tenant_id == tenant.id, ScheduledPush.target == Target.GRADIENT.value
                    )
                ).all()
            )
            for period in scheduler._open_periods(session, tenant=tenant, since=since, now=now):
                out.append((tenant.id, period, attempts.get(str(period), 0)))
    return out


def enqueue_due(engine: Engine, settings: Settings, *, now: datetime) -> list[int]:
    """Claim and enqueue every due (tenant, period) not claimed before; the job ids enqueued now."""
    from seatsync.jobs.procrastinate_app import JobQueue

    queue = JobQueue(settings.database_url)
    enqueued: list[int] = []
    try:
        for tenant_id, period, attempt in due(engine, now=now):
            key = {"target": Target.GRADIENT.value, "period": str(period), "tenant_id": tenant_id, "attempt": attempt}
            with engine.begin() as conn:
                live = {"task": Task.PUSH_GRADIENT.value, "tenant": str(tenant_id), "period": str(period)}
                if conn.execute(_LIVE_JOB, live).first() is not None:
                    continue  # queued, running, or its worker died and the stalled-job check will run it again
                if conn.execute(_CLAIM, key).first() is None:
                    continue  # enqueued before
                # the job row is inserted in this transaction: the claim and the job exist together or not at all
                job_id, _ = queue.defer(
                    Task.PUSH_GRADIENT.value,
                    {"tenant_id": tenant_id, "period": str(period), "started_by": STARTED_BY, "scheduled": True},
                    lock=push_lock(tenant_id, Target.GRADIENT),
                    queueing_lock=None,
                    connection=conn.connection.driver_connection,
                )
                conn.execute(_SET_JOB, {**key, "job_id": job_id})
            enqueued.append(job_id)
            log.info("scheduled Gradient push of %s for tenant %s queued (job %s)", period, tenant_id, job_id)
    finally:
        queue.close()
    return enqueued
