"""``seatsync serve --workers N``: the web app in N processes, one listening socket each.

One Python process runs Python on one core at a time, so a busy installation wants about one process per core.
Every worker opens its own socket on the same address with ``SO_REUSEPORT``, and the kernel spreads new
connections over them. (With one shared socket, the worker that wakes first accepts a whole burst of keep-alive
connections: one core works while the others idle.) Where ``SO_REUSEPORT`` is missing, uvicorn's own
shared-socket workers are used.

The supervisor (this process) restarts a worker that dies and stops them all on SIGINT or SIGTERM.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from seatsync.errors import ConfigurationError

log = logging.getLogger(__name__)

#: what each worker process gives uvicorn: it builds its app from the environment (``SEATSYNC_*``)
APP_FACTORY = "seatsync.web.app:app_from_environment"
#: a worker that dies sooner than this after starting is not started again (a broken set-up, not bad luck)
MIN_LIFETIME = 10.0


def reuse_port_supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def listening_socket(host: str, port: int, *, listen: bool = True) -> socket.socket:
    """A TCP socket on ``host:port`` that other processes of this user may bind too (``SO_REUSEPORT``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def _run_worker(host: str, port: int, options: dict[str, Any]) -> None:
    """One worker process: its own socket, uvicorn, the app from the environment."""
    import uvicorn

    sock = listening_socket(host, port)
    config = uvicorn.Config(APP_FACTORY, factory=True, **options)
    uvicorn.Server(config).run(sockets=[sock])


def hold_port(host: str, port: int) -> socket.socket:
    """Bind the address (without listening) for the workers' lifetime: a port taken by another program is
    refused here, with one clear error, and port 0 becomes one port that every worker binds."""
    try:
        return listening_socket(host, port, listen=False)
    except OSError as exc:
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


class Workers:
    """Runs ``count`` worker processes until SIGINT or SIGTERM (or ``stop()``). ``target(host, port, options)``
    is what a worker process runs (tests give their own)."""

    def __init__(
        self,
        count: int,
        *,
        host: str,
        port: int,
        options: dict[str, Any],
        target: Callable[[str, int, dict[str, Any]], None] = _run_worker,
        min_lifetime: float = MIN_LIFETIME,
    ) -> None:
        self.count = count
        self.host = host
        self.port = port
        self.options = options
        self.target = target
        self.min_lifetime = min_lifetime
        self.started = 0
        self._context = multiprocessing.get_context("spawn")
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> int:
        """Serve until stopped; returns the exit code (1 when a worker kept dying)."""
        holder = hold_port(self.host, self.port)
        self.port = holder.getsockname()[1]
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        workers: list[tuple[BaseProcess, float]] = []
        code = 0
        try:
            workers = [self._start() for _ in range(self.count)]
            log.info("seatsync serving on %s:%d with %d worker processes", self.host, self.port, self.count)
            while not self._stopping.wait(0.5):
                for i, (process, started) in enumerate(workers):
                    if process.is_alive():
                        continue
                    if time.monotonic() - started < self.min_lifetime:
                        log.error(
                            "worker %s exited with %s right after starting: stopping", process.pid, process.exitcode
                        )
                        code = 1
                        self._stopping.set()
                        break
                    log.warning("worker %s exited with %s: starting another", process.pid, process.exitcode)
                    workers[i] = self._start()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._shut_down([p for p, _ in workers])
            holder.close()
        return code

    def _start(self) -> tuple[BaseProcess, float]:
        process = self._context.Process(
            target=self.target, args=(self.host, self.port, self.options), name="seatsync-web", daemon=False
        )
        process.start()
        self.started += 1
        return process, time.monotonic()

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self._stopping.set()

    @staticmethod
    def _shut_down(processes: list[BaseProcess], timeout: float = 30.0) -> None:
        """SIGTERM (uvicorn finishes the requests in flight), then SIGKILL what is left after ``timeout``."""
        for process in processes:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + timeout
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
