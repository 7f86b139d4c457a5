"""Two dispatchers over one job code path (``seatsync.jobs.work``):

- ``InProcessDispatcher``: threads of this process (SQLite, or no distributed worker configured; ``seatsync serve``
  as before);
- ``ProcrastinateDispatcher``: jobs in PostgreSQL, run by ``seatsync worker`` processes on any machines.

Both start the push's run in the caller's process before queuing it (``seatsync.push.engine.start``: a period
that has not started, an option the target cannot honour, a missing connection are refused at once, and the
handle carries the run id), then queue the one job ``execute_push(run_id)`` with the lock
``push:<tenant>:<target>``. Both keep the same promises: at most one push per tenant and target runs at a time
(the partial unique index on running runs refuses a second one: ``Conflict``), and enqueuing a push whose run is
still queued (not yet started) returns the queued one.

    dispatcher = get_dispatcher(settings, engine)
    handle = dispatcher.enqueue_push(tenant.id, "connectwise", "2026-10", "ops@msp.example", force=False)
    handle.run_id   # follow the run (push_runs / push_results), whichever process runs it
"""

from __future__ import annotations

import enum
import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from seatsync.config import Settings
from seatsync.db.engine import is_postgres, transaction
from seatsync.db.models import Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.errors import ConfigurationError, Conflict, NotFound
from seatsync.jobs import work
from seatsync.jobs.work import push_lock
from seatsync.push import engine as push_engine
from seatsync.targets.base import PushOptions
from seatsync.targets.registry import get_target

log = logging.getLogger(__name__)


class QueueKind(enum.StrEnum):
    INPROCESS = "inprocess"
    PROCRASTINATE = "procrastinate"


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass
class JobHandle:
    """A job that was enqueued (or found already queued: ``existing``)."""

    job_id: int
    queue: QueueKind
    task: str
    existing: bool = False
    _state: Callable[[], JobState] | None = field(default=None, repr=False)
    _done: threading.Event | None = field(default=None, repr=False)
    #: an in-process job's return value (a run id for pushes) or exception, once finished
    result: Any = None
    error: BaseException | None = None
    #: a push's run, started before the job was queued
    run_id: int | None = None

    def state(self) -> JobState:
        assert self._state is not None
        return self._state()

    @property
    def finished(self) -> bool:
        return self.state() in (JobState.SUCCEEDED, JobState.FAILED)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job is finished (in-process jobs only); False on timeout."""
        if self._done is None:
            raise ConfigurationError("a queued job is run by a worker: follow it through its push run instead")
        return self._done.wait(timeout)


Progress = Callable[[int, int], None]


class Dispatcher(Protocol):
    kind: QueueKind

    def enqueue_push(
        self,
        tenant_id: int,
        target: str,
        period: BillingPeriod | str,
        started_by: str,
        *,
        force: bool = False,
        retry_failed: bool = False,
        dry_run: bool = False,
        skip_invoiced: bool = False,
        approve_over_threshold: bool = False,
        progress: Progress | None = None,
        on_finish: Callable[[], None] | None = None,
        now: datetime | None = None,
    ) -> JobHandle: ...

    def enqueue_sync_accounts(self, tenant_id: int) -> JobHandle: ...

    def close(self) -> None: ...


def sync_lock(tenant_id: int) -> str:
    return f"sync_accounts:{tenant_id}"


def push_options(
    period: BillingPeriod | str,
    started_by: str,
    *,
    force: bool,
    retry_failed: bool,
    dry_run: bool,
    skip_invoiced: bool = False,
    approve_over_threshold: bool = False,
) -> PushOptions:
    period = period if isinstance(period, BillingPeriod) else BillingPeriod.parse(period)  # refuse a bad one now
    return PushOptions(
        period,
        dry_run=dry_run,
        retry_failed=retry_failed,
        force=force,
        started_by=started_by,
        skip_invoiced=skip_invoiced,
        approve_over_threshold=approve_over_threshold,
    )


def start_push(
    session: Session,
    *,
    settings: Settings,
    tenant_id: int,
    target: str,
    options: PushOptions,
    queued: bool,
    now: datetime | None = None,
) -> int:
    """The run of a push about to be queued, inserted in ``session``'s transaction; its id."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"no tenant {tenant_id}")
    return push_engine.start(
        session,
        tenant=tenant,
        target=get_target(target).key,
        options=options,
        queued=queued,
        settings=settings,
        now=now,
    ).id


# -- in-process ----------------------------------------------------------------------------------------------


Submit = Callable[[str, Callable[[], None]], None]


class InProcessDispatcher:
    """Each job on its own daemon thread; one lock per tenant and target serialises pushes of the same key.

    ``submit(name, work)``: who starts the threads (the web app's, so that it can join them at shutdown); by default
    this dispatcher's own daemon threads. Push options: ``progress(done, total)`` and ``on_finish()`` callbacks.
    """

    kind = QueueKind.INPROCESS

    def __init__(self, engine: Engine, settings: Settings, *, submit: Submit | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self._external_submit = submit
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._queued: dict[str, JobHandle] = {}
        self._threads: list[threading.Thread] = []

    def _submit(
        self, key: str, task: str, run: Callable[[], Any], *, dedupe: bool, on_finish: Callable[[], None] | None = None
    ) -> JobHandle:
        with self._lock:
            if dedupe and key in self._queued:
                queued = self._queued[key]
                return JobHandle(queued.job_id, self.kind, task, True, queued._state, queued._done)
            key_lock = self._key_locks.setdefault(key, threading.Lock())
            done = threading.Event()
            states = [JobState.QUEUED]
            handle = JobHandle(next(self._ids), self.kind, task, _state=lambda: states[-1], _done=done)
            if dedupe:
                self._queued[key] = handle

        def body() -> None:
            with key_lock:
                with self._lock:
                    if self._queued.get(key) is handle:
                        del self._queued[key]
                states.append(JobState.RUNNING)
                try:
                    handle.result = work.timed(task, run)
                    states.append(JobState.SUCCEEDED)
                except BaseException as exc:
                    handle.error = exc
                    states.append(JobState.FAILED)
                    log.info("job %s %s failed: %s", task, key, exc)
                finally:
                    if on_finish is not None:
                        on_finish()
                    done.set()

        if self._external_submit is not None:
            self._external_submit(f"job:{key}", body)
            return handle
        thread = threading.Thread(target=body, name=f"job:{key}", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        return handle

    def enqueue_push(
        self,
        tenant_id: int,
        target: str,
        period: BillingPeriod | str,
        started_by: str,
        *,
        force: bool = False,
        retry_failed: bool = False,
        dry_run: bool = False,
        skip_invoiced: bool = False,
        approve_over_threshold: bool = False,
        progress: Progress | None = None,
        on_finish: Callable[[], None] | None = None,
        now: datetime | None = None,
    ) -> JobHandle:
        options = push_options(
            period,
            started_by,
            force=force,
            retry_failed=retry_failed,
            dry_run=dry_run,
            approve_over_threshold=approve_over_threshold,
            skip_invoiced=skip_invoiced,
        )
        key = push_lock(tenant_id, get_target(target).key)
        try:
            with transaction(self.engine) as session:
                run_id = start_push(
                    session,
                    settings=self.settings,
                    tenant_id=tenant_id,
                    target=target,
                    options=options,
                    queued=False,
                    now=now,
                )
        except Conflict:
            with self._lock:
                queued = self._queued.get(key)
            if queued is None:
                raise
            return JobHandle(
                queued.job_id, self.kind, queued.task, True, queued._state, queued._done, run_id=queued.run_id
            )

        # on PostgreSQL the rate limits are the shared buckets here too: serving processes and workers share them
        shared = is_postgres(self.engine)

        def run() -> int | None:
            return work.run_push_job(
                self.engine, settings=self.settings, run_id=run_id, progress=progress, shared_pacing=shared
            )

        handle = self._submit(key, work.Task.EXECUTE_PUSH.value, run, dedupe=True, on_finish=on_finish)
        handle.run_id = run_id
        return handle

    def enqueue_sync_accounts(self, tenant_id: int) -> JobHandle:
        def run() -> dict[str, int]:
            return work.run_sync_accounts_job(self.engine, settings=self.settings, tenant_id=tenant_id)

        return self._submit(sync_lock(tenant_id), work.Task.SYNC_ACCOUNTS.value, run, dedupe=True)

    def wait(self, timeout: float | None = None) -> bool:
        """Join every job thread (tests, shutdown); False if some are still running after ``timeout``."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
        return not any(t.is_alive() for t in threads)

    def close(self) -> None:
        self.wait(timeout=30)


# -- procrastinate -------------------------------------------------------------------------------------------


class ProcrastinateDispatcher:
    """Defers jobs into PostgreSQL (``procrastinate_jobs``); ``seatsync worker`` processes run them."""

    kind = QueueKind.PROCRASTINATE

    def __init__(self, engine: Engine, settings: Settings) -> None:
        from seatsync.jobs import procrastinate_app

        self.engine = engine
        self.settings = settings
        self._queue = procrastinate_app.JobQueue(settings.database_url)

    def enqueue_push(
        self,
        tenant_id: int,
        target: str,
        period: BillingPeriod | str,
        started_by: str,
        *,
        force: bool = False,
        retry_failed: bool = False,
        dry_run: bool = False,
        skip_invoiced: bool = False,
        approve_over_threshold: bool = False,
        progress: Progress | None = None,
        on_finish: Callable[[], None] | None = None,
        now: datetime | None = None,
    ) -> JobHandle:
        """``progress`` and ``on_finish`` cannot cross processes: follow the run (``JobHandle.run_id``) instead."""
        options = push_options(
            period,
            started_by,
            force=force,
            retry_failed=retry_failed,
            dry_run=dry_run,
            approve_over_threshold=approve_over_threshold,
            skip_invoiced=skip_invoiced,
        )
        key = push_lock(tenant_id, get_target(target).key)
        task = work.Task.EXECUTE_PUSH.value
        try:
            # the run and its job in one transaction: both exist or neither
            with self.engine.begin() as conn, Session(bind=conn) as session:
                run_id = start_push(
                    session,
                    settings=self.settings,
                    tenant_id=tenant_id,
                    target=target,
                    options=options,
                    queued=True,
                    now=now,
                )
                session.flush()
                job_id, _ = self._queue.defer(
                    task,
                    {"run_id": run_id},
                    lock=key,
                    queueing_lock=None,
                    connection=conn.connection.driver_connection,
                    queue=get_target(target).queue,
                )
        except Conflict:
            queued = self._queue.queued(task=task, lock=key)
            if queued is None:
                raise
            job_id, run_id = queued
            return JobHandle(job_id, self.kind, task, True, _state=lambda: self._queue.state(job_id), run_id=run_id)
        return JobHandle(job_id, self.kind, task, False, _state=lambda: self._queue.state(job_id), run_id=run_id)

    def enqueue_sync_accounts(self, tenant_id: int) -> JobHandle:
        task = work.Task.SYNC_ACCOUNTS.value
        job_id, existing = self._queue.defer(task, {"tenant_id": tenant_id}, lock=sync_lock(tenant_id))
        return JobHandle(job_id, self.kind, task, existing, _state=lambda: self._queue.state(job_id))

    def close(self) -> None:
        self._queue.close()


# -- selection -----------------------------------------------------------------------------------------------


#: a worker whose heartbeat is older than this does not count as running (``auto``)
WORKER_ALIVE = 60.0


def live_workers(engine: Engine) -> int:
    """``seatsync worker`` processes with a recent heartbeat (0 when the queue's tables are absent)."""
    if not is_postgres(engine):
        return 0
    sql = text(
        "SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > now() - make_interval(secs => :alive)"
    )
    try:
        with engine.connect() as conn:
            return int(conn.execute(sql, {"alive": WORKER_ALIVE}).scalar_one())
    except SQLAlchemyError:
        return 0


def queue_kind(settings: Settings, engine: Engine) -> QueueKind:
    """``job_queue``: "procrastinate" (PostgreSQL only) queues every job for ``seatsync worker``; "inprocess" runs
    them on threads of this process; "auto" queues them on PostgreSQL while a worker is running, and otherwise
    runs them here (an installation with only ``seatsync serve`` works as before; SQLite always runs here)."""
    wanted = settings.job_queue
    if wanted == "inprocess":
        return QueueKind.INPROCESS
    if wanted == "procrastinate":
        if not is_postgres(engine):
            raise ConfigurationError(
                "SEATSYNC_JOB_QUEUE=procrastinate needs PostgreSQL (SEATSYNC_DATABASE_URL=postgresql://...); "
                "with SQLite use auto or inprocess"
            )
        return QueueKind.PROCRASTINATE
    return QueueKind.PROCRASTINATE if live_workers(engine) else QueueKind.INPROCESS


def schedules_here(settings: Settings, engine: Engine) -> bool:
    """Whether this process's in-process schedule loop should push now: one scheduler per deployment. On SQLite
    (and with ``SEATSYNC_JOB_QUEUE=inprocess``) always; on PostgreSQL only while no worker runs the periodic
    task (``auto`` without live workers); never with ``procrastinate``."""
    if settings.job_queue == "procrastinate":
        return False
    return queue_kind(settings, engine) is QueueKind.INPROCESS


_dispatchers: dict[tuple[int, QueueKind], Dispatcher] = {}
_dispatchers_lock = threading.Lock()


def get_dispatcher(settings: Settings, engine: Engine, *, submit: Submit | None = None) -> Dispatcher:
    """The dispatcher for this installation now, one per engine and kind (in-process locks must be shared).

    ``submit``: the thread starter of an in-process dispatcher created by this call (the web app's)."""
    kind = queue_kind(settings, engine)
    with _dispatchers_lock:
        found = _dispatchers.get((id(engine), kind))
        if found is None or getattr(found, "engine", None) is not engine:
            found = (
                InProcessDispatcher(engine, settings, submit=submit)
                if kind is QueueKind.INPROCESS
                else ProcrastinateDispatcher(engine, settings)
            )
            _dispatchers[(id(engine), kind)] = found
        return found


def close_dispatchers() -> None:
    with _dispatchers_lock:
        found = list(_dispatchers.values())
        _dispatchers.clear()
    for dispatcher in found:
        dispatcher.close()
