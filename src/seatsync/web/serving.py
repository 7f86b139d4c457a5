"""``seatsync serve --workers N``: the web app in N processes, the connections dealt out in turn.

One Python process runs Python on one core at a time, so a busy installation wants about one process per core.
This process (the supervisor) accepts every connection and hands it to the next worker in turn, over a Unix
socket (``SCM_RIGHTS``); the worker serves it with uvicorn until the client closes it. Letting the workers accept
from one shared socket instead lets the first one to wake take a whole burst of keep-alive connections (one core
works, the others idle), and per-worker ``SO_REUSEPORT`` sockets share them out at random.

The supervisor replaces a worker that dies and stops them all on SIGINT or SIGTERM. Where Unix sockets cannot
carry connections, uvicorn's own workers are used (``handoff_supported``).

Kept rather than uvicorn's own ``--workers`` because that one measurably misses the web targets (one shared socket:
20 keep-alive connections were split as unevenly as 2/18; docs/benchmarks.md). The worker drives uvicorn below its
command line (``Server.startup`` without sockets, ``Config.http_protocol_class``, ``Server.server_state``), so
uvicorn is pinned in pyproject.toml to the range ``tests/web/test_cli_serve.py`` passes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
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

Target = Callable[[socket.socket, dict[str, Any]], None]


def handoff_supported() -> bool:
    return hasattr(socket, "send_fds") and hasattr(socket, "AF_UNIX") and hasattr(socket, "SOCK_SEQPACKET")


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


def _serve_handed_connections(channel: socket.socket, options: dict[str, Any]) -> None:
    """A worker process: uvicorn with no socket of its own, serving the connections the supervisor sends."""
    import uvicorn

    class HandedServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=[])
            if self.started:
                self._receive_connections()

        def _receive_connections(self) -> None:
            loop = asyncio.get_running_loop()
            config = self.config
            lifespan_state = self.lifespan.state

            def protocol() -> asyncio.Protocol:
                made: asyncio.Protocol = config.http_protocol_class(  # type: ignore[call-arg]
                    config=config, server_state=self.server_state, app_state=lifespan_state
                )
                return made

            connecting: set[asyncio.Task[Any]] = set()

            def connected(task: asyncio.Task[Any]) -> None:
                connecting.discard(task)
                if not task.cancelled() and task.exception() is not None:
                    log.info("a handed connection could not be served: %s", task.exception())

            def receive() -> None:
                try:
                    message, fds, _flags, _address = socket.recv_fds(channel, 1, 8)
                except BlockingIOError:
                    return
                if not message:  # the supervisor is gone: finish what is in flight, then stop
                    loop.remove_reader(channel.fileno())
                    self.should_exit = True
                for fd in fds:
                    task = loop.create_task(loop.connect_accepted_socket(protocol, socket.socket(fileno=fd)))
                    connecting.add(task)
                    task.add_done_callback(connected)

            channel.setblocking(False)
            loop.add_reader(channel.fileno(), receive)

    config = uvicorn.Config(APP_FACTORY, factory=True, **options)
    HandedServer(config).run()


class Workers:
    """Accepts connections on ``host:port`` and deals them out to ``count`` worker processes, until SIGINT or
    SIGTERM (or ``stop()``). ``target(channel, options)`` is what a worker process runs (tests give their own)."""

    def __init__(
        self,
        count: int,
        *,
        host: str,
        port: int,
        options: dict[str, Any],
        target: Target = _serve_handed_connections,
        min_lifetime: float = MIN_LIFETIME,
    ) -> None:
        self.count = count
        self.host = host
        self.port = port
        self.options = options
        self.target = target
        self.min_lifetime = min_lifetime
        self.started = 0
        self.handed = 0
        self._context = multiprocessing.get_context("spawn")
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        #: per worker: the process, when it started, the supervisor's end of its channel
        self._workers: list[tuple[BaseProcess, float, socket.socket]] = []

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> int:
        """Serve until stopped; returns the exit code (1 when a worker kept dying)."""
        listener = listen(self.host, self.port)
        self.port = listener.getsockname()[1]
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        accepting = threading.Thread(target=self._accept, args=(listener,), name="seatsync-accept", daemon=True)
        code = 0
        try:
            with self._lock:
                self._workers = [self._start() for _ in range(self.count)]
            accepting.start()
            log.info("seatsync serving on %s:%d with %d worker processes", self.host, self.port, self.count)
            while not self._stopping.wait(0.5):
                if not self._replace_dead():
                    code = 1
                    self._stopping.set()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._stopping.set()
            if accepting.is_alive():
                accepting.join(timeout=5)
            listener.close()
            self._shut_down()
        return code

    def _start(self) -> tuple[BaseProcess, float, socket.socket]:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        process = self._context.Process(
            target=self.target, args=(theirs, self.options), name="seatsync-web", daemon=False
        )
        process.start()
        theirs.close()
        self.started += 1
        return process, time.monotonic(), ours

    def _replace_dead(self) -> bool:
        """Start a new worker for each that died; False when one died right after starting."""
        with self._lock:
            for i, (process, started, channel) in enumerate(self._workers):
                if process.is_alive():
                    continue
                channel.close()
                if time.monotonic() - started < self.min_lifetime:
                    log.error("worker %s exited with %s right after starting: stopping", process.pid, process.exitcode)
                    return False
                log.warning("worker %s exited with %s: starting another", process.pid, process.exitcode)
                self._workers[i] = self._start()
        return True

    def _accept(self, listener: socket.socket) -> None:
        listener.settimeout(0.5)  # to notice ``stop`` while no one connects
        turn = itertools.count()
        while not self._stopping.is_set():
            try:
                connection, _address = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                log.exception("accepting a connection failed")
                continue
            with connection:
                self._hand(connection, turn)

    def _hand(self, connection: socket.socket, turn: itertools.count[int]) -> None:
        with self._lock:
            workers = list(self._workers)
        for _ in range(len(workers)):
            _process, _started, channel = workers[next(turn) % len(workers)]
            try:
                socket.send_fds(channel, [b"c"], [connection.fileno()])
                self.handed += 1
                return
            except OSError:
                continue  # that worker is gone (about to be replaced): the next one
        log.error("no worker could take a connection: closed it")

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self._stopping.set()

    def _shut_down(self, timeout: float = 30.0) -> None:
        """SIGTERM (uvicorn finishes the requests in flight), then SIGKILL what is left after ``timeout``."""
        with self._lock:
            workers, self._workers = self._workers, []
        for process, _started, _channel in workers:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + timeout
        for process, _started, channel in workers:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
            with contextlib.suppress(OSError):
                channel.close()
