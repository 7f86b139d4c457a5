"""Which dispatcher runs the jobs, and the in-process one's promises (one push per key at a time, a queued
duplicate returns the queued job)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, text

from seatsync.cli.main import cli
from seatsync.config import Settings
from seatsync.db.engine import make_engine
from seatsync.errors import ConfigurationError, InvalidPeriod
from seatsync.jobs import dispatch, work
from seatsync.jobs.dispatch import InProcessDispatcher, JobState, ProcrastinateDispatcher, QueueKind


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


def test_inprocess_one_push_per_tenant_and_target(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    running: list[tuple[int, str]] = []
    overlap: list[bool] = []

    def fake_push(_engine: Engine, *, tenant_id: int, target: str, **_: Any) -> int:
        key = (tenant_id, target)
        overlap.append(key in running)
        running.append(key)
        release.wait(5)
        running.remove(key)
        return len(overlap)

    monkeypatch.setattr(work, "run_push_job", fake_push)
    jobs = InProcessDispatcher(sqlite_engine, Settings())
    first = jobs.enqueue_push(1, "connectwise", "2026-10", "a")
    while first.state() is not JobState.RUNNING:
        time.sleep(0.001)
    other_tenant = jobs.enqueue_push(2, "connectwise", "2026-10", "a")
    second = jobs.enqueue_push(1, "connectwise", "2026-10", "b")  # waits for the first
    third = jobs.enqueue_push(1, "connectwise", "2026-10", "c")  # the second is still queued: that one
    assert not first.existing and not second.existing
    assert third.existing and third.job_id == second.job_id
    assert second.state() is JobState.QUEUED
    release.set()
    assert jobs.wait(timeout=60)
    assert {first.state(), second.state(), other_tenant.state()} == {JobState.SUCCEEDED}
    assert overlap == [False, False, False]  # never two pushes of tenant 1 at once
    with pytest.raises(InvalidPeriod):
        jobs.enqueue_push(1, "connectwise", "2026-13", "a")


def test_worker_refuses_sqlite(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["worker", "--database-url", f"sqlite:///{tmp_path / 'w.db'}"])
    assert result.exit_code == 1
    assert "needs PostgreSQL" in result.output
