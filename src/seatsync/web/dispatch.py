"""How a push started from the web runs: through ``dispatch_push`` only.

The run is started in the request (its id is the answer); it is carried out on a background thread of this
process (``ThreadDispatcher``) or by a worker (``seatsync.jobs.dispatch`` decides).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine

from seatsync.domain.periods import BillingPeriod
from seatsync.errors import SeatsyncError
from seatsync.jobs.dispatch import get_dispatcher
from seatsync.push.gate import approval_started_by
from seatsync.services.approvals import ApprovedRows, Sender
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


def dispatch_push(
    state: AppState,
    *,
    tenant_id: int,
    target: str,
    period: BillingPeriod,
    started_by: str,
    force: bool = False,
    retry_failed: bool = False,
    dry_run: bool = False,
    skip_invoiced: bool = False,
    approve_over_threshold: bool = False,
) -> int:
    """Start a push and return its run id: the run is inserted before this returns (``seatsync.push.engine.start``),
    then carried out in the background (a thread of this process, or a worker: ``seatsync.jobs.dispatch``).

    The one place the web starts pushes. Refusals (a period not started, a push already running, nothing to
    retry, not connected) are raised here, before anything is sent, so the caller can answer with them.
    """
    key = (tenant_id, str(target))
    assert state.dispatcher is not None
    board = progress_board(state)
    job = get_dispatcher(state.settings, state.engine, submit=state.dispatcher.submit).enqueue_push(
        tenant_id,
        str(target),
        period,
        started_by,
        force=force,
        retry_failed=retry_failed,
        dry_run=dry_run,
        skip_invoiced=skip_invoiced,
        approve_over_threshold=approve_over_threshold,
        progress=lambda done, total: board.update(key, done, total),
        on_finish=lambda: board.clear(key),
        now=state.clock(),
    )
    assert job.run_id is not None
    return job.run_id


def progress_board(state: AppState) -> ProgressBoard:
    return state.progress


def dispatched(state: AppState) -> Sender:
    """Send approved rows as the web starts every push (``dispatch_push``): the run started now, carried out in the
    background."""

    def send(_engine: Engine, request: ApprovedRows) -> int:
        return dispatch_push(
            state,
            tenant_id=request.tenant_id,
            target=request.target,
            period=BillingPeriod.parse(request.period),
            started_by=approval_started_by(request.by, request.held_run_id),
            skip_invoiced=request.skip_invoiced,
        )

    return send
