"""Drive ``seatsync demo`` in a subprocess, and log in to it over HTTP the way a browser does."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import httpx

from seatsync.sandboxes.server import free_port

START_TIMEOUT = 60.0


class DemoProcess:
    """``with DemoProcess(env, database_url, password) as demo: demo.url, demo.connectwise_url, demo.lines``"""

    def __init__(
        self,
        env: dict[str, str],
        database_url: str | None,
        password: str,
        *,
        cwd: Path | None = None,
        options: tuple[str, ...] = (),
    ) -> None:
        """``database_url=None``: the demo's default, ``seatsync-demo.db`` in ``cwd``; ``options``: more of the
        command's options (``--connectwise-port`` ...)."""
        self.port = free_port()
        self.password = password
        command = [sys.executable, "-m", "seatsync", "demo", "--port", str(self.port), "--password", password, *options]
        if database_url is not None:
            command += ["--database-url", database_url]
        self.process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = START_TIMEOUT) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines:
                if found := re.search(pattern, line):
                    return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines))
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError("the demo ended early:\n" + "\n".join(self.lines))
            self.lines.append(line)

    def __enter__(self) -> DemoProcess:
        try:
            self.wait_for(r"^Press Ctrl-C")
            self.url = self.wait_for(r"web app: (http://\S+)").group(1).rstrip("/")
            self.connectwise_url = self.wait_for(r"ConnectWise sandbox: (http://\S+)").group(1)
            self.gradient_url = self.wait_for(r"Gradient sandbox: (http://\S+)").group(1)
            self.halopsa_url = self.wait_for(r"HaloPSA sandbox: (http://\S+)").group(1)
            self.autotask_url = self.wait_for(r"Autotask sandbox: (http://\S+)").group(1)
        except BaseException:
            self.close()
            raise
        return self

    def interrupt(self, timeout: float = 10.0) -> tuple[int, float]:
        """SIGINT, as Ctrl-C does; returns (exit code, seconds it took to exit)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=timeout)
        return code, time.monotonic() - started

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._reader.join(timeout=10)
        while not self._queue.empty():
            line = self._queue.get_nowait()
            if line is not None:
                self.lines.append(line)
        assert self.process.stdout is not None
        self.process.stdout.close()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@contextmanager
def browser_login(base_url: str, email: str, password: str) -> Iterator[httpx.Client]:
    """Log in through the login page (its CSRF cookie and form field); yields the client holding the session, with
    the session's CSRF token set for the JSON API."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        page = client.get("/login")
        assert page.status_code == 200, page.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None, "the login form has no CSRF field"
        done = client.post(
            "/login", data={"email": email, "password": password, "csrf_token": token.group(1), "next": "/"}
        )
        assert done.status_code == 303, done.text
        me = client.get("/api/v1/auth/me")
        assert me.status_code == 200, me.text
        client.headers["X-CSRF-Token"] = me.json()["csrf_token"]
        yield client
