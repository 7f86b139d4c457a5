"""`seatsync serve` runs the monthly Gradient schedule beside the web app (unless workers own the queue)."""

from __future__ import annotations

import gc
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from seatsync.cli.main import cli
from seatsync.sandboxes.server import free_port
from seatsync.web.app import app_from_environment, tune_garbage_collector
from seatsync.web.serving import Workers


@pytest.fixture(autouse=True)
def _garbage_collector_restored() -> Iterator[None]:
    """``serve`` tunes the collector of its process: here that is the test process."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_a_serving_process_freezes_what_it_built_and_collects_less_often() -> None:
    tune_garbage_collector()
    assert gc.get_freeze_count() > 10_000  # the modules and everything imported so far
    assert gc.get_threshold()[0] == 10_000


def _scheduler_alive() -> bool:
    return any(t.name == "seatsync-scheduler" and t.is_alive() for t in threading.enumerate())


@pytest.mark.parametrize(
    ("job_queue", "expected"),
    [("auto", True), ("inprocess", True), pytest.param("procrastinate", False, marks=pytest.mark.postgres)],
)
def test_serve_starts_and_stops_the_scheduler(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, job_queue: str, expected: bool
) -> None:
    # workers own the schedule when the queue is procrastinate (PostgreSQL only)
    url = request.getfixturevalue("pg_url" if job_queue == "procrastinate" else "sqlite_url")
    import uvicorn

    seen: dict[str, Any] = {}

    def fake_run(app: Any, **kwargs: Any) -> None:
        seen["scheduler"] = _scheduler_alive()
        seen["port"] = kwargs["port"]

    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.setenv("SEATSYNC_JOB_QUEUE", job_queue)
    from seatsync.config import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["serve", "--port", "8123", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert seen == {"scheduler": expected, "port": 8123}
    assert not _scheduler_alive()


def test_serve_is_registered() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "--port" in result.output


def test_serve_with_workers_runs_them_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Any
) -> None:
    """Several processes: each builds its app from the environment (the database URL and the cookie policy reach
    them that way), and the schema is migrated once, by the serving command, before they start."""
    seen: dict[str, Any] = {}

    def fake_run(self: Workers) -> int:
        seen.update(count=self.count, host=self.host, port=self.port)
        return 0

    monkeypatch.setattr(Workers, "run", fake_run)
    monkeypatch.setenv("SEATSYNC_JOB_QUEUE", "inprocess")
    monkeypatch.setenv("SEATSYNC_KEY_FILE", str(tmp_path / "k.key"))
    monkeypatch.delenv("SEATSYNC_DATABASE_URL", raising=False)
    monkeypatch.delenv("SEATSYNC_SECURE_COOKIES", raising=False)
    from seatsync.config import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(
        cli, ["serve", "--workers", "3", "--secure-cookies", "--port", "8124", "--database-url", sqlite_url]
    )
    assert result.exit_code == 0, result.output
    assert seen == {"count": 3, "host": "127.0.0.1", "port": 8124}
    assert os.environ["SEATSYNC_DATABASE_URL"] == sqlite_url
    assert os.environ["SEATSYNC_SECURE_COOKIES"] == "true"

    # what each worker process does with that environment
    get_settings.cache_clear()
    app = app_from_environment()
    state = app.state.seatsync
    try:
        assert str(state.engine.url) == sqlite_url and state.secure_cookies is True
        with state.engine.connect() as conn:  # migrated by the serving command, not by the worker
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        state.engine.dispose()
        get_settings.cache_clear()


def _serve(env: dict[str, str], url: str, port: int, workers: int) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "seatsync", "serve", "--port", str(port), "--workers", str(workers)]
    return subprocess.Popen(
        [*command, "--database-url", url], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _stop(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output


def test_workers_share_the_connections_and_stop_on_sigterm(
    sqlite_url: str, subprocess_env: dict[str, str], tmp_path: Any
) -> None:
    """Twenty keep-alive connections are dealt out evenly to the workers, and SIGTERM stops the supervisor and
    every worker."""
    env = {**subprocess_env, "SEATSYNC_KEY_FILE": str(tmp_path / "k.key"), "SEATSYNC_JOB_QUEUE": "inprocess"}
    port = free_port()
    process = _serve(env, sqlite_url, port, 2)
    clients: list[httpx.Client] = []
    try:
        deadline = time.monotonic() + 240  # an upper bound: ends as soon as it answers (loaded machines start slowly)
        while True:
            assert process.poll() is None, _stop(process)
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "seatsync serve --workers 2 did not answer"
            time.sleep(0.2)

        def workers() -> list[psutil.Process]:  # (multiprocessing's resource tracker is a child too)
            children = psutil.Process(process.pid).children()
            return [c for c in children if "resource_tracker" not in " ".join(c.cmdline())]

        _wait_until(lambda: len(workers()) == 2)
        serving_processes = workers()
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}") for _ in range(20)]
        assert all(c.get("/healthz").status_code == 200 for c in clients)
        held = sorted(
            sum(1 for c in w.net_connections() if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port)
            for w in serving_processes
        )
        assert held == [10, 10]
    finally:
        for c in clients:
            c.close()
        output = _stop(process)
    assert process.returncode == 0, output
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in serving_processes)


def test_serve_refuses_a_port_another_program_listens_on(
    subprocess_env: dict[str, str], tmp_path: Any, sqlite_url: str
) -> None:
    env = {**subprocess_env, "SEATSYNC_KEY_FILE": str(tmp_path / "k.key"), "SEATSYNC_JOB_QUEUE": "inprocess"}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _serve(env, sqlite_url, port, 2)
        try:
            process.wait(60)
        finally:
            output = _stop(process)
    assert process.returncode == 1, output
    assert f"cannot listen on 127.0.0.1:{port}" in output


def _exit_at_once(channel: socket.socket, options: dict[str, Any]) -> None:
    sys.exit(3)


def _exit_after_a_while(channel: socket.socket, options: dict[str, Any]) -> None:
    time.sleep(0.5)
    sys.exit(3)


def test_a_worker_that_dies_right_after_starting_stops_the_supervisor() -> None:
    workers = Workers(2, host="127.0.0.1", port=0, options={}, target=_exit_at_once, min_lifetime=30)
    assert workers.run() == 1
    assert workers.started == 2  # not started again and again


def test_a_worker_that_dies_later_is_replaced() -> None:
    workers = Workers(1, host="127.0.0.1", port=0, options={}, target=_exit_after_a_while, min_lifetime=0.2)
    stopper = threading.Thread(target=lambda: (_wait_until(lambda: workers.started >= 3), workers.stop()))
    stopper.start()
    assert workers.run() == 0
    stopper.join()
    assert workers.started >= 3


def _wait_until(condition: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_serve_refuses_zero_workers() -> None:
    result = CliRunner().invoke(cli, ["serve", "--workers", "0"])
    assert result.exit_code == 2
    assert "--workers" in result.output
