"""Two dispatchers over one job code path (``seatsync.jobs.work``):

- ``InProcessDispatcher``: threads of this process (SQLite, or no distributed worker configured; ``seatsync serve``
  as before);
- ``ProcrastinateDispatcher``: jobs in PostgreSQL, run by ``seatsync worker`` processes on any machines.

Both keep the same promises: at most one push per tenant and target runs at a time (a second one waits for the
first), and enqueuing a push that is already queued (not yet started) returns the queued one.

    dispatcher = get_dispatcher(settings, engine)
    handle = dispatcher.enqueue_push(tenant.id, "connectwise", "2026-10", "ops@msp.example", force=False)
"""

from __future__ import annotations

import enum
import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from seatsync.config import Settings
from seatsync.db.engine import is_postgres
from seatsync.domain.periods import BillingPeriod
from seatsync.errors import ConfigurationError
from seatsync.jobs import work
from seatsync.push.runs import Target

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


class Dispatcher(Protocol):
    kind: QueueKind

    def enqueue_push(
        self, tenant_id: int, target: Target | str, period: BillingPeriod | str, started_by: str, **opts: Any
    ) -> JobHandle: ...

    def enqueue_sync_accounts(self, tenant_id: int) -> JobHandle: ...

    def close(self) -> None: ...


def push_lock(tenant_id: int, target: Target | str) -> str:
    return f"push:{tenant_id}:{Target(target).value}"


def sync_lock(tenant_id: int) -> str:
    return f"sync_accounts:{tenant_id}"


def _push_kwargs(tenant_id: int, target: Target | str, period: BillingPeriod | str, started_by: str) -> dict[str, Any]:
    period = period if isinstance(period, BillingPeriod) else BillingPeriod.parse(period)  # refuse a bad one now
    return {"tenant_id": tenant_id, "target": Target(target).value, "period": str(period), "started_by": started_by}


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
        self, tenant_id: int, target: Target | str, period: BillingPeriod | str, started_by: str, **opts: Any
    ) -> JobHandle:
        kwargs = _push_kwargs(tenant_id, target, period, started_by)
        task = work.push_task(Target(target)).value
        on_finish = opts.pop("on_finish", None)

        def run() -> int | None:
            return work.run_push_job(self.engine, settings=self.settings, **kwargs, **opts)

        return self._submit(push_lock(tenant_id, target), task, run, dedupe=True, on_finish=on_finish)

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
        self, tenant_id: int, target: Target | str, period: BillingPeriod | str, started_by: str, **opts: Any
    ) -> JobHandle:
        for callback in ("progress", "on_finish"):
            opts.pop(callback, None)  # a callback cannot cross processes: follow the run's results instead
        kwargs = {**_push_kwargs(tenant_id, target, period, started_by), **opts}
        task = work.push_task(Target(target)).value
        job_id, existing = self._queue.defer(task, kwargs, lock=push_lock(tenant_id, target))
        return JobHandle(job_id, self.kind, task, existing, _state=lambda: self._queue.state(job_id))

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
