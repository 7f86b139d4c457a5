"""The Procrastinate app: seatsync's tasks, the periodic schedule, the worker and the job queue client.

Procrastinate keeps its jobs in the same PostgreSQL database (schema applied by ``seatsync migrate``, revision
``0006_jobs``). Tasks:

- ``execute_push`` (run_id): every target's push, its run started by whoever queued it
  (``seatsync.push.engine.start``); lock ``push:<tenant>:<target>`` (one at a time per tenant and target), on the
  target's queue (``BillingTarget.queue``: ``connectwise``, ``gradient`` ...);
- ``sync_accounts`` (tenant_id): lock and queueing lock ``sync_accounts:<tenant>``;
- ``prune_jobs``: periodic, daily: succeeded jobs older than a week are deleted;
- ``push_schedule``: periodic, every minute; Procrastinate defers one job per tick for the whole cluster
  (``procrastinate_periodic_defers`` is unique per task and tick) and the fan-out claims each (target, tenant,
  period) once (``seatsync.jobs.fanout``).

A worker killed mid-job leaves its job ``doing``; every worker looks for jobs of workers whose heartbeat is older
than ``stalled_after`` and puts them back to ``todo`` (``retry_stalled_jobs``). The retried push re-reads and
compares, so what the killed attempt already set is found set (no second write).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import UTC, datetime
from typing import Any

from procrastinate import App, JobContext, PsycopgConnector, RetryStrategy, SyncPsycopgConnector
from procrastinate import exceptions as pexc
from procrastinate.jobs import Status
from procrastinate.manager import JobManager
from procrastinate.tasks import configure_task
from sqlalchemy import Engine

from seatsync.config import Settings
from seatsync.db.engine import make_engine
from seatsync.errors import Conflict, RetriableError
from seatsync.jobs import work
from seatsync.jobs.dispatch import JobState
from seatsync.jobs.work import Task

log = logging.getLogger(__name__)

#: a push refused because another run of the tenant and target looks alive (a crashed run on another host is taken
#: as dead after ``seatsync.push.runs.LEASE``): try again later, for a while
PUSH_RETRY = RetryStrategy(max_attempts=12, wait=20, retry_exceptions={Conflict, RetriableError})
SYNC_RETRY = RetryStrategy(max_attempts=5, exponential_wait=5, retry_exceptions={RetriableError})

#: the queue of each task but ``execute_push`` (on its target's queue): a deployment may give Gradient (one global
#: limit) and ConnectWise (a limit per tenant) their own workers (``seatsync worker --queues gradient``), so neither
#: waits behind the other
QUEUES = {
    Task.SYNC_ACCOUNTS.value: "gradient",
}

#: seconds between a worker's heartbeats, and without one after which its jobs are taken as stalled
HEARTBEAT_EVERY = 10.0
STALLED_AFTER = 30.0


def conninfo(database_url: str) -> str:
    """A libpq URL from seatsync's SQLAlchemy URL."""
    for prefix in ("postgresql+psycopg://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql://" + database_url[len(prefix) :]
    return database_url


# The app's connector is replaced by the worker (``run_worker``); the module-level one is never opened.
app = App(connector=PsycopgConnector(), periodic_defaults={"max_delay": 600})


def _env(context: JobContext) -> tuple[Engine, Settings]:
    extra = context.additional_context
    return extra["engine"], extra["settings"]


@app.task(name=Task.EXECUTE_PUSH.value, pass_context=True, retry=PUSH_RETRY)
def execute_push(context: JobContext, *, run_id: int) -> int:
    """Carry out push run ``run_id`` (any target) with the cluster-wide rate limits."""
    engine, settings = _env(context)
    job_id = context.job.id
    done: int = work.timed(
        Task.EXECUTE_PUSH,
        lambda: work.run_push_job(engine, settings=settings, run_id=run_id, shared_pacing=True, job_id=job_id),
    )
    return done


@app.task(name=Task.SYNC_ACCOUNTS.value, pass_context=True, retry=SYNC_RETRY)
def sync_accounts(context: JobContext, *, tenant_id: int) -> dict[str, int]:
    engine, settings = _env(context)
    job_id = context.job.id
    result: dict[str, int] = work.timed(
        Task.SYNC_ACCOUNTS,
        lambda: work.run_sync_accounts_job(
            engine, settings=settings, tenant_id=tenant_id, shared_pacing=True, job_id=job_id
        ),
    )
    return result


@app.periodic(cron="* * * * *", periodic_id="monthly")
@app.task(name=Task.PUSH_SCHEDULE.value, pass_context=True, queueing_lock=Task.PUSH_SCHEDULE.value)
def push_schedule(context: JobContext, timestamp: int) -> int:
    """Enqueue the push of every scheduled target and tenant whose period is due at ``timestamp`` (once each)."""
    from seatsync.jobs import fanout

    engine, settings = _env(context)
    now = datetime.fromtimestamp(timestamp, UTC)
    return int(work.timed(Task.PUSH_SCHEDULE, lambda: len(fanout.enqueue_due(engine, settings, now=now))))


#: how long succeeded jobs are kept (the history that matters is in push_runs); failed ones are kept
JOB_RETENTION_HOURS = 24 * 7


@app.periodic(cron="17 3 * * *", periodic_id="daily")
@app.task(name="prune_jobs", queueing_lock="prune_jobs")
async def prune_jobs(timestamp: int) -> None:
    """Delete succeeded jobs older than a week (the schedule alone queues one a minute)."""
    await app.job_manager.delete_old_jobs(nb_hours=JOB_RETENTION_HOURS)


# -- the queue, as seen by the web app and the CLI -----------------------------------------------------------

_TERMINAL = {
    Status.SUCCEEDED: JobState.SUCCEEDED,
    Status.FAILED: JobState.FAILED,
    Status.CANCELLED: JobState.FAILED,
    Status.ABORTED: JobState.FAILED,
}


class JobQueue:
    """Defers jobs and reads their status, synchronously (a small psycopg pool, opened on first use)."""

    def __init__(self, database_url: str) -> None:
        self._connector = SyncPsycopgConnector(conninfo=conninfo(database_url), min_size=1, max_size=4)
        self._opened = False
        self.manager = JobManager(self._connector)

    def _open(self) -> None:
        if not self._opened:
            self._connector.open()
            self._opened = True

    def defer(
        self,
        task: str,
        kwargs: dict[str, Any],
        *,
        lock: str,
        queueing_lock: str | bool | None = True,
        connection: Any = None,
        queue: str | None = None,
    ) -> tuple[int, bool]:
        """Defer ``task``; when one with the same queueing lock (default: ``lock``) is already queued, that one:
        (job id, existing). ``connection``: a psycopg connection whose transaction the job joins; ``queue``:
        default the task's (``QUEUES``)."""
        qlock = lock if queueing_lock is True else (queueing_lock or None)
        if connection is None:
            self._open()
        for _ in range(3):
            try:
                deferrer = configure_task(
                    name=task,
                    job_manager=self.manager,
                    lock=lock,
                    queueing_lock=qlock,
                    queue=queue or QUEUES.get(task, "default"),
                    connection=connection,
                )
                return deferrer.defer(**kwargs), False
            except pexc.AlreadyEnqueued:
                if connection is not None or qlock is None:
                    raise
                queued = self.manager.list_jobs(queueing_lock=qlock, status=Status.TODO.value)
                if queued and queued[0].id is not None:
                    return queued[0].id, True
                # it started between the two statements: the new job may be queued now
        raise pexc.AlreadyEnqueued(f"could not queue {task} for {lock}; try again")

    def queued(self, *, task: str, lock: str) -> tuple[int, int] | None:
        """(job id, run id) of a push job with this lock still waiting to start, if any."""
        self._open()
        for job in self.manager.list_jobs(task=task, lock=lock, status=Status.TODO.value):
            run_id = job.task_kwargs.get("run_id")
            if job.id is not None and isinstance(run_id, int):
                return job.id, run_id
        return None

    def state(self, job_id: int) -> JobState:
        self._open()
        status = self.manager.get_job_status(job_id)
        if status in _TERMINAL:
            return _TERMINAL[status]
        return JobState.RUNNING if status == Status.DOING else JobState.QUEUED

    def close(self) -> None:
        if self._opened:
            self._connector.close()
            self._opened = False


# -- the worker ----------------------------------------------------------------------------------------------


async def retry_stalled_jobs(stalled_after: float) -> list[int]:
    """Put the jobs of workers silent for ``stalled_after`` seconds back in the queue; their ids."""
    retried: list[int] = []
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
        try:
            await app.job_manager.retry_job(job)
        except pexc.ConnectorException:
            continue  # another worker retried it first
        assert job.id is not None
        retried.append(job.id)
        log.warning("job %s (%s) was stalled (its worker died); queued again", job.id, job.task_name)
    return retried


async def _stalled_job_loop(stalled_after: float, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await retry_stalled_jobs(stalled_after)
        except Exception:
            log.exception("looking for stalled jobs failed; trying again")


async def run_worker_async(
    *,
    settings: Settings,
    concurrency: int = 8,
    queues: list[str] | None = None,
    heartbeat: float = HEARTBEAT_EVERY,
    stalled_after: float = STALLED_AFTER,
) -> None:
    # connections are the scarce resource (PostgreSQL's max_connections is shared by every worker): at most
    # concurrency + 2 for the jobs (the engines' transactions and the rate limiter's one-statement checkouts are
    # short; threads wait for a free one) and 4 for the queue itself
    half = max(1, concurrency // 2)
    engine = make_engine(settings.database_url, pool_size=half + 2, max_overflow=concurrency - half, pool_timeout=120)
    connector = PsycopgConnector(conninfo=conninfo(settings.database_url), min_size=1, max_size=4)
    try:
        with app.replace_connector(connector):
            async with app.open_async():
                reaper = asyncio.create_task(_stalled_job_loop(stalled_after, max(1.0, heartbeat)))
                try:
                    await app.run_worker_async(
                        concurrency=concurrency,
                        queues=queues or None,  # type: ignore[arg-type]  # None: every queue
                        name=f"seatsync@{socket.gethostname()}",
                        additional_context={"engine": engine, "settings": settings},
                        update_heartbeat_interval=heartbeat,
                        stalled_worker_timeout=stalled_after,
                    )
                finally:
                    reaper.cancel()
    finally:
        engine.dispose()


def run_worker(**kwargs: Any) -> None:
    asyncio.run(run_worker_async(**kwargs))
