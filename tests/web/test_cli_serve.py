"""`seatsync serve` runs the monthly Gradient schedule beside the web app (unless workers own the queue)."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from seatsync.cli.main import cli
from seatsync.web.app import APP_FACTORY, app_from_environment


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


def test_serve_with_workers_hands_uvicorn_the_app_factory(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Any
) -> None:
    """Several processes: uvicorn imports the factory in each; the database URL and cookie policy reach them
    through the environment, and the schema is migrated once, before they start."""
    import uvicorn

    seen: dict[str, Any] = {}

    def fake_run(app: Any, **kwargs: Any) -> None:
        seen.update(app=app, **kwargs)

    monkeypatch.setattr(uvicorn, "run", fake_run)
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
    assert seen["app"] == APP_FACTORY and seen["factory"] is True and seen["workers"] == 3
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


def test_serve_refuses_zero_workers() -> None:
    result = CliRunner().invoke(cli, ["serve", "--workers", "0"])
    assert result.exit_code == 2
    assert "--workers" in result.output
