"""Worker processes for the cluster tests."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from seatsync.db.engine import make_engine
from seatsync.db.migrate import upgrade


class Workers:
    """``seatsync worker`` subprocesses; their output goes to files (shown when a test fails)."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        n = len(self.procs)
        out = (self.logs / f"worker{n}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "seatsync", "worker", *args], env=self.env, stdout=out, stderr=subprocess.STDOUT
        )
        out.close()
        self.procs.append(proc)
        return proc

    def output(self) -> str:
        return "\n".join(
            f"--- worker{n} ---\n" + (self.logs / f"worker{n}.log").read_text(errors="replace")
            for n in range(len(self.procs))
        )

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def workers(pg_url: str, subprocess_env: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    env = {**subprocess_env, "SEATSYNC_DATABASE_URL": pg_url, "SEATSYNC_LOG_FORMAT": "json"}
    env.pop("SEATSYNC_JOB_QUEUE", None)
    running = Workers(env, tmp_path)
    yield running
    running.stop()


def wait_for(condition, timeout: float, what: str, every: float = 0.02):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def scalar(engine: Engine, sql: str, **params: object) -> object:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()
