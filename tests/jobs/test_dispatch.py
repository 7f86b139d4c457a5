"""Which dispatcher runs the jobs, and the in-process one's promises (the run started in the caller, one push per
tenant and target at a time)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, text

from seatsync.cli.main import cli
from seatsync.config import Settings
from seatsync.db.engine import make_engine
from seatsync.errors import ConfigurationError, Conflict, InvalidPeriod, PeriodNotStarted
from seatsync.jobs import dispatch, work
from seatsync.jobs.dispatch import InProcessDispatcher, JobState, ProcrastinateDispatcher, QueueKind
from seatsync.sandboxes.connectwise import ConnectWiseSandbox, create_app
from seatsync.sandboxes.server import BackgroundServer
from tests.jobs.world import build


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Engine:
    return make_engine(f"sqlite:///{tmp_path / 'x.db'}")


def test_auto_is_inprocess_on_sqlite(sqlite_engine: Engine) -> None:
    assert dispatch.queue_kind(Settings(), sqlite_engine) is QueueKind.INPROCESS
    assert dispatch.queue_kind(Settings(job_queue="inprocess"), sqlite_engine) is QueueKind.INPROCESS
    with pytest.raises(ConfigurationError, match="needs PostgreSQL"):
        dispatch.queue_kind(Settings(job_queue="procrastinate"), sqlite_engine)


@pytest.mark.postgres
def test_auto_queues_on_postgresql_while_a_worker_runs(pg_url: str, pg_engine: Engine) -> None:
    settings = Settings(database_url=pg_url)
    # no worker: `seatsync serve` alone runs the jobs itself rather than queue them for nobody
    assert dispatch.queue_kind(settings, pg_engine) is QueueKind.INPROCESS
    assert dispatch.queue_kind(Settings(database_url=pg_url, job_queue="procrastinate"), pg_engine) is (
        QueueKind.PROCRASTINATE
    )
    with pg_engine.begin() as conn:  # a worker's registration, as `seatsync worker` writes it
        conn.execute(text("INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now())"))
    assert dispatch.queue_kind(settings, pg_engine) is QueueKind.PROCRASTINATE
    assert dispatch.queue_kind(Settings(job_queue="inprocess"), pg_engine) is QueueKind.INPROCESS
    try:
        found = dispatch.get_dispatcher(settings, pg_engine)
        assert isinstance(found, ProcrastinateDispatcher)
        assert dispatch.get_dispatcher(settings, pg_engine) is found  # one per engine
    finally:
        dispatch.close_dispatchers()
    with pg_engine.begin() as conn:  # a worker silent for minutes is dead: back to in-process
        conn.execute(text("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '5 minutes'"))
    assert dispatch.queue_kind(settings, pg_engine) is QueueKind.INPROCESS


def test_get_dispatcher_is_one_per_engine(sqlite_engine: Engine) -> None:
    try:
        first = dispatch.get_dispatcher(Settings(), sqlite_engine)
        assert isinstance(first, InProcessDispatcher)
        assert dispatch.get_dispatcher(Settings(), sqlite_engine) is first
    finally:
        dispatch.close_dispatchers()


def test_inprocess_one_push_per_tenant_and_target(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    running: list[int] = []
    overlap: list[bool] = []

    def fake_push(_engine: Engine, *, run_id: int, **_: Any) -> int:
        overlap.append(bool(running))
        running.append(run_id)
        release.wait(5)
        running.remove(run_id)
        return run_id

    monkeypatch.setattr(work, "run_push_job", fake_push)
    sandbox = ConnectWiseSandbox(seed=None)
    with BackgroundServer(create_app(sandbox)) as server:
        one, two = build(engine, sandbox, server.url, tenants_count=2, companies=1)
    jobs = InProcessDispatcher(engine, Settings())
    first = jobs.enqueue_push(one.id, "connectwise", "2026-10", "a")
    assert first.run_id is not None  # started in the caller: its id at once, no polling
    while first.state() is not JobState.RUNNING:
        time.sleep(0.001)
    other_tenant = jobs.enqueue_push(two.id, "connectwise", "2026-10", "a")
    with pytest.raises(Conflict, match="already running"):  # the run of the first is live: refused, not queued
        jobs.enqueue_push(one.id, "connectwise", "2026-10", "b")
    release.set()
    assert jobs.wait(timeout=60)
    assert {first.state(), other_tenant.state()} == {JobState.SUCCEEDED}
    assert {first.result, other_tenant.result} == {first.run_id, other_tenant.run_id}
    with pytest.raises(InvalidPeriod):
        jobs.enqueue_push(one.id, "connectwise", "2026-13", "a")
    with pytest.raises(PeriodNotStarted):  # a month that has not started: nothing is started
        jobs.enqueue_push(one.id, "connectwise", "2026-11", "a", now=datetime(2026, 10, 20, tzinfo=UTC))


def test_worker_refuses_sqlite(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["worker", "--database-url", f"sqlite:///{tmp_path / 'w.db'}"])
    assert result.exit_code == 1
    assert "needs PostgreSQL" in result.output
