"""How a push started from the web runs: through ``dispatch_push`` only.

For now each push runs on a background thread of this process (``ThreadDispatcher``); a job queue replaces the
dispatcher (``AppState.dispatcher``) without touching the routes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

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
