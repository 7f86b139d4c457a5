"""The monthly Gradient schedule, distributed: one job per tenant and due period, enqueued exactly once.

The periodic task ``gradient_schedule`` (one job per minute for the whole cluster) calls ``enqueue_due``. For each
tenant with Gradient connected, the periods due (``seatsync.domain.schedule.due_periods``, from the newest period
the schedule completed) are claimed in ``seatsync_fanout`` and their ``push_gradient`` job is deferred *in the same
transaction*: a claim exists if and only if its job was queued, so a second trigger (the next minute, a second
worker, an operator) finds the claim and enqueues nothing. The job itself then claims the period in the
schedule's own ``scheduled_pushes`` before sending anything (``seatsync.push.scheduler``), so even a job retried
after its worker died pushes the period once.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select, text

from seatsync.config import Settings
from seatsync.db.engine import transaction
from seatsync.db.models import Integration, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.domain.schedule import due_periods
from seatsync.jobs.dispatch import push_lock
from seatsync.jobs.work import Task
from seatsync.push.runs import Target

log = logging.getLogger(__name__)

STARTED_BY = "schedule"

_CLAIM = text(
    "INSERT INTO seatsync_fanout (target, period, tenant_id) VALUES (:target, :period, :tenant_id) "
    "ON CONFLICT DO NOTHING RETURNING tenant_id"
)
_SET_JOB = text(
    "UPDATE seatsync_fanout SET job_id = :job_id WHERE target = :target AND period = :period AND tenant_id = :tenant_id"
)


def _last_scheduled(session: Any, tenant_id: int) -> BillingPeriod | None:
    from seatsync.push.scheduler import last_scheduled  # type: ignore[import-not-found, unused-ignore]

    found: BillingPeriod | None = last_scheduled(session, tenant_id=tenant_id)
    return found


def due(engine: Engine, *, now: datetime) -> list[tuple[int, BillingPeriod]]:
    """(tenant id, period) of every scheduled Gradient push due at ``now`` and not yet completed, oldest first."""
    from seatsync.services import gradient as gradient_service

    out: list[tuple[int, BillingPeriod]] = []
    with transaction(engine) as session:
        rows = session.execute(
            select(Tenant, Integration)
            .join(Integration, Integration.tenant_id == Tenant.id)
            .where(Integration.kind == gradient_service.KIND)
            .order_by(Tenant.id)
        )
        for tenant, integration in rows:
            if not gradient_service.is_connected(integration):  # type: ignore[attr-defined, unused-ignore]
                continue
            last = _last_scheduled(session, tenant.id)
            out.extend((tenant.id, p) for p in due_periods(now, tenant.time_zone, last, since=integration.connected_at))
    return out


def enqueue_due(engine: Engine, settings: Settings, *, now: datetime) -> list[int]:
    """Claim and enqueue every due (tenant, period) not claimed before; the job ids enqueued now."""
    from seatsync.jobs.procrastinate_app import JobQueue

    queue = JobQueue(settings.database_url)
    enqueued: list[int] = []
    try:
        for tenant_id, period in due(engine, now=now):
            key = {"target": Target.GRADIENT.value, "period": str(period), "tenant_id": tenant_id}
            with engine.begin() as conn:
                if conn.execute(_CLAIM, key).first() is None:
                    continue  # claimed (and enqueued) before
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
