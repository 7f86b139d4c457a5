"""How a push started from the web runs: through ``dispatch_push`` only.

For now each push runs on a background thread of this process (``ThreadDispatcher``); a job queue replaces the
dispatcher (``AppState.dispatcher``) without touching the routes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import func, select

from seatsync.db.models import PushRun, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.errors import ConfigurationError, SeatsyncError
from seatsync.jobs.dispatch import get_dispatcher
from seatsync.push.runs import Target
from seatsync.services.connectwise_connection import client_for
from seatsync.web.state import AppState

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    def submit(self, name: str, work: Callable[[], None]) -> None: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class ThreadDispatcher:
    """Runs each piece of work on its own daemon thread; ``wait`` joins them (tests, shutdown)."""

    def __init__(self, state: AppState) -> None:
        self._state = state
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, name: str, work: Callable[[], None]) -> None:
        def run() -> None:
            try:
                work()
            except SeatsyncError as exc:  # expected (already answered to the caller, or recorded on the run)
                log.info("background work %s stopped: %s", name, exc)
            except Exception:  # the run records its own failure; this only keeps the thread from dying loudly
                log.exception("background work %s failed", name)

        thread = threading.Thread(target=run, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
        return not any(t.is_alive() for t in threads)


# --- pushes -------------------------------------------------------------------------------------------------------


@dataclass
class Progress:
    done: int = 0
    total: int | None = None


class ProgressBoard:
    """Live progress of the pushes running in this process, by (tenant id, target)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._board: dict[tuple[int, str], Progress] = {}

    def update(self, key: tuple[int, str], done: int, total: int) -> None:
        with self._lock:
            self._board[key] = Progress(done, total)

    def get(self, key: tuple[int, str]) -> Progress | None:
        with self._lock:
            return self._board.get(key)

    def clear(self, key: tuple[int, str]) -> None:
        with self._lock:
            self._board.pop(key, None)


#: how long a push request waits for the run to be recorded before answering without its id
START_WAIT = 10.0


def dispatch_push(
    state: AppState,
    *,
    tenant_id: int,
    target: Target,
    period: BillingPeriod,
    started_by: str,
    force: bool = False,
    retry_failed: bool = False,
) -> int | None:
    """Start a push in the background and return its run id once the run is recorded (None if not yet).

    The one place the web starts pushes. Errors raised before the run exists (a push already running, nothing
    to retry) are raised here, so the caller can answer with them.
    """
    key = (tenant_id, target.value)
    # the caller's request must not hold a database write lock while the push starts (SQLite has one writer)
    with state.sessions() as session:
        if target is Target.CONNECTWISE:
            # refuse at once (409) when there is no connection, rather than record an interrupted run
            tenant = session.get(Tenant, tenant_id)
            assert tenant is not None
            client_for(session, tenant=tenant, settings=state.settings).close()
        before = session.scalar(
            select(func.max(PushRun.id)).where(PushRun.tenant_id == tenant_id, PushRun.target == target.value)
        )
    assert state.dispatcher is not None
    progress_board(state).update(key, 0, 0)
    # in-process (threads of this app) or queued for `seatsync worker`: seatsync.jobs.dispatch decides
    job = get_dispatcher(state.settings, state.engine, submit=state.dispatcher.submit).enqueue_push(
        tenant_id,
        target,
        period,
        started_by,
        force=force,
        retry_failed=retry_failed,
        progress=lambda done, total: progress_board(state).update(key, done, total),
        on_finish=lambda: progress_board(state).clear(key),
    )
    deadline = time.monotonic() + START_WAIT
    while True:
        with state.sessions() as session:
            run_id = session.scalar(
                select(func.max(PushRun.id)).where(
                    PushRun.tenant_id == tenant_id, PushRun.target == target.value, PushRun.id > (before or 0)
                )
            )
        if run_id is not None:
            return int(run_id)
        if job.finished:
            if isinstance(job.error, SeatsyncError):
                raise job.error
            if job.error is not None:
                raise ConfigurationError(f"the push could not start: {job.error}")
            return None
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)


def progress_board(state: AppState) -> ProgressBoard:
    return state.progress
