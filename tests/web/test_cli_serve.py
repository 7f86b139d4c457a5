"""`seatsync serve` runs the monthly Gradient schedule beside the web app (unless workers own the queue)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from click.testing import CliRunner

from seatsync.cli.main import cli


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
