"""A push through the in-process dispatcher (SQLite and PostgreSQL), seen in /metrics; JSON log lines."""

from __future__ import annotations

import json
import logging

import httpx
from prometheus_client import REGISTRY
from sqlalchemy import Engine

from seatsync.config import Settings, get_settings
from seatsync.jobs import observe
from seatsync.jobs.dispatch import InProcessDispatcher, JobState
from seatsync.sandboxes.connectwise import ConnectWiseSandbox, create_app
from seatsync.sandboxes.server import BackgroundServer
from seatsync.web.app import create_app as create_web_app
from tests.jobs.world import build


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _psa_requests(system: str) -> float:
    return sum(
        s.value
        for metric in REGISTRY.collect()
        for s in metric.samples
        if s.name == "seatsync_psa_requests_total" and s.labels["system"] == system
    )


def test_inprocess_push_is_counted_and_served_at_metrics(engine: Engine) -> None:
    sandbox = ConnectWiseSandbox(seed=None)
    requests_before = _psa_requests("connectwise")
    succeeded_before = _sample("seatsync_push_company_outcomes_total", target="connectwise", outcome="succeeded")
    jobs_before = _sample("seatsync_job_duration_seconds_count", task="execute_push", outcome="ok")
    with BackgroundServer(create_app(sandbox)) as server:
        (world,) = build(engine, sandbox, server.url, tenants_count=1, companies=3)
        jobs = InProcessDispatcher(engine, Settings())
        handle = jobs.enqueue_push(world.id, "connectwise", "2026-10", "ops@msp.example")
        # generous upper bounds: they only end a hung run, and a loaded machine may be slow
        assert handle.wait(300) and handle.state() is JobState.SUCCEEDED, handle.error
        assert isinstance(handle.result, int)
    assert {a: sandbox.additions[a]["quantity"] for a in world.expected} == {
        a: float(n) for a, n in world.expected.items()
    }
    # every request the sandbox saw (one agreements read, then per company an addition read, PATCH and upload)
    assert _psa_requests("connectwise") - requests_before == len(sandbox.requests) == 1 + 3 * 3
    assert _sample("seatsync_push_company_outcomes_total", target="connectwise", outcome="succeeded") == (
        succeeded_before + 3
    )
    assert _sample("seatsync_job_duration_seconds_count", task="execute_push", outcome="ok") == jobs_before + 1

    app = create_web_app(settings=get_settings(), engine=engine, migrate=False)
    with BackgroundServer(app) as web:
        response = httpx.get(web.url + "/metrics", timeout=120)  # httpx's 5 s default failed under load
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'seatsync_push_runs{status="succeeded",target="connectwise"} 1.0' in text
    assert "seatsync_psa_requests_total" in text and "seatsync_job_duration_seconds_bucket" in text
    if engine.dialect.name == "postgresql":
        assert "# TYPE seatsync_jobs gauge" in text  # the queue's depth, from procrastinate_jobs


def test_metered_transport_counts_429s() -> None:
    before = _sample("seatsync_psa_rate_limited_total", system="gradient")
    inner = httpx.MockTransport(lambda request: httpx.Response(429, headers={"Retry-After": "1"}))
    with httpx.Client(transport=observe.MeteredTransport("gradient", inner)) as client:
        assert client.get("http://gradient.test/api").status_code == 429
    assert _sample("seatsync_psa_rate_limited_total", system="gradient") == before + 1


def test_json_log_lines_carry_tenant_and_run() -> None:
    formatter = observe.JsonFormatter()
    with observe.bound(tenant_id=7, job_id=3) as context:
        context.update(run_id=42)
        record = logging.LogRecord("seatsync.test", logging.INFO, __file__, 1, "pushed %s", ("ok",), None)
        line = json.loads(formatter.format(record))
    assert line["message"] == "pushed ok" and line["level"] == "info"
    assert (line["tenant_id"], line["run_id"], line["job_id"]) == (7, 42, 3)
    outside = json.loads(formatter.format(record))
    assert "tenant_id" not in outside


def test_jobs_cli_runs_in_process_without_workers(engine: Engine, database_url: str) -> None:
    from click.testing import CliRunner

    from seatsync.cli.main import cli

    sandbox = ConnectWiseSandbox(seed=None)
    with BackgroundServer(create_app(sandbox)) as server:
        (world,) = build(engine, sandbox, server.url, tenants_count=1, companies=2)
        args = [
            "--tenant",
            world.slug,
            "--target",
            "connectwise",
            "--period",
            "2026-10",
            "--database-url",
            database_url,
        ]
        result = CliRunner().invoke(cli, ["jobs", "push", *args])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("execute_push done: ")
    assert {a: sandbox.additions[a]["quantity"] for a in world.expected} == {
        a: float(n) for a, n in world.expected.items()
    }
    status = CliRunner().invoke(cli, ["jobs", "status", "--database-url", database_url])
    assert status.exit_code == 0, status.output
    assert ("workers alive: 0" in status.output) == (engine.dialect.name == "postgresql")
