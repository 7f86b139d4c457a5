"""The one code path of every job, whoever runs it (a thread of ``seatsync serve`` or a ``seatsync worker``).

Jobs only call the engines (``seatsync.push.connectwise.run_push``, ``seatsync.push.gradient.run_gradient_push``,
``seatsync.services.gradient.sync_accounts``); what differs between the two dispatchers is only the pacing:
with ``shared_pacing`` (the distributed queue) the clients' rate limiters are the PostgreSQL buckets of
``seatsync.jobs.limiter``, so the limits hold across every worker.
"""

from __future__ import annotations

import enum
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from seatsync.config import Settings
from seatsync.connectors.connectwise import ConnectWiseClient
from seatsync.db.engine import session_factory, transaction
from seatsync.db.models import PushResult, PushRun, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.errors import ConfigurationError, Conflict, NotFound
from seatsync.jobs import observe
from seatsync.push.runs import Target

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


class Task(enum.StrEnum):
    PUSH_CONNECTWISE = "push_connectwise"
    PUSH_GRADIENT = "push_gradient"
    SYNC_ACCOUNTS = "sync_accounts"
    GRADIENT_SCHEDULE = "gradient_schedule"


def push_task(target: Target) -> Task:
    return Task.PUSH_CONNECTWISE if target is Target.CONNECTWISE else Task.PUSH_GRADIENT


def connectwise_factory(
    engine: Engine, settings: Settings, *, shared_pacing: bool
) -> Callable[[Session, Tenant], ConnectWiseClient]:
    """Clients from the tenant's stored credentials, metered; paced cluster-wide when ``shared_pacing``."""
    from seatsync.jobs.limiter import connectwise_limiter
    from seatsync.services.connectwise_connection import client_for

    def make(session: Session, tenant: Tenant) -> ConnectWiseClient:
        options: dict[str, Any] = {"transport": observe.MeteredTransport("connectwise")}
        if shared_pacing:
            options["rate_limiter"] = connectwise_limiter(engine, settings, tenant.id)
        return client_for(session, tenant=tenant, settings=settings, **options)

    return make


def gradient_factory(engine: Engine, settings: Settings, *, shared_pacing: bool) -> Callable[[Session, Tenant], Any]:
    """Gradient clients from the tenant's stored token, metered; paced cluster-wide when ``shared_pacing``."""
    from seatsync.jobs.limiter import gradient_limiter
    from seatsync.services import gradient

    def make(session: Session, tenant: Tenant) -> Any:
        options: dict[str, Any] = {"transport": observe.MeteredTransport("gradient")}
        if shared_pacing:
            options["limiter"] = gradient_limiter(engine, settings, gradient.configured_vendor_key(settings))
        return gradient.client_for(session, tenant=tenant, **options)

    return make


def _gradient_runner() -> Callable[..., int]:
    try:
        from seatsync.push import gradient as gradient_push
    except ImportError as exc:
        raise ConfigurationError("the Gradient push is not available in this installation") from exc
    return cast(Callable[..., int], gradient_push.run_gradient_push)


def _scheduled_gradient_push(
    engine: Engine, *, tenant_id: int, period: BillingPeriod, factory: Callable[[Session, Tenant], Any]
) -> int | None:
    """The schedule's push of ``period``: claimed in ``scheduled_pushes`` first, so it happens once whoever asks."""
    from seatsync.db.models import ScheduledPush
    from seatsync.push import gradient as gradient_push
    from seatsync.push import scheduler

    run_id: int | None = scheduler._claim_and_start(engine, tenant_id=tenant_id, period=period)
    if run_id is None:
        with transaction(engine) as session:
            claimed = session.scalar(
                select(ScheduledPush.id).where(
                    ScheduledPush.tenant_id == tenant_id,
                    ScheduledPush.target == Target.GRADIENT.value,
                    ScheduledPush.period == str(period),
                )
            )
        if claimed is None:  # not claimed by anyone: another Gradient push of the tenant is running
            raise Conflict(f"another Gradient push of tenant {tenant_id} is running; the scheduled one waits")
        log.info("the scheduled Gradient push of %s was already claimed: nothing to do", period)
        return None
    gradient_push.execute(engine, run_id=run_id, client_factory=factory)
    return run_id


def _accepted(runner: Callable[..., Any], options: dict[str, Any]) -> dict[str, Any]:
    """The options the engine takes (None values left to the engine's defaults)."""
    params = inspect.signature(runner).parameters
    return {k: v for k, v in options.items() if k in params and v is not None}


def run_push_job(
    engine: Engine,
    *,
    settings: Settings,
    tenant_id: int,
    target: Target | str,
    period: BillingPeriod | str,
    started_by: str,
    force: bool = False,
    retry_failed: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    shared_pacing: bool = False,
    job_id: int | None = None,
    scheduled: bool = False,
) -> int | None:
    """Run one push to completion with the engine of ``target``; returns the run id.

    ``scheduled`` (Gradient): the monthly schedule's push, claimed once per period; None when already claimed.
    """
    target = Target(target)
    period = period if isinstance(period, BillingPeriod) else BillingPeriod.parse(period)
    with observe.bound(tenant_id=tenant_id, target=target.value, period=str(period), job_id=job_id) as ctx:
        log.info("push started")
        options: dict[str, Any] = {
            "started_by": started_by,
            "force": force,
            "retry_failed": retry_failed,
            "dry_run": dry_run,
            "progress": progress,
        }
        if target is Target.CONNECTWISE:
            from seatsync.push.connectwise import run_push

            runner: Callable[..., int] = run_push
            options["client_factory"] = connectwise_factory(engine, settings, shared_pacing=shared_pacing)
        else:
            runner = _gradient_runner()
            options["client_factory"] = gradient_factory(engine, settings, shared_pacing=shared_pacing)
            if scheduled:
                found = _scheduled_gradient_push(
                    engine, tenant_id=tenant_id, period=period, factory=options["client_factory"]
                )
                if found is None:
                    return None
                ctx.update(run_id=found)
                log.info("push finished: %s", record_outcomes(engine, run_id=found))
                return found
        run_id = runner(engine, tenant_id=tenant_id, period=period, **_accepted(runner, options))
        ctx.update(run_id=run_id)
        status = record_outcomes(engine, run_id=run_id)
        log.info("push finished: %s", status)
        return run_id


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

    with observe.bound(tenant_id=tenant_id, task=Task.SYNC_ACCOUNTS.value, job_id=job_id):
        factory = gradient_factory(engine, settings, shared_pacing=shared_pacing)
        with session_factory(engine)() as session:
            tenant = session.get(Tenant, tenant_id)
            if tenant is None:
                raise NotFound(f"no tenant {tenant_id}")
            try:
                with factory(session, tenant) as client:
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
