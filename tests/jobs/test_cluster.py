"""Two ``seatsync worker`` processes on the real PostgreSQL, 50 tenants pushed at once to ConnectWise and
scheduled to Gradient by the periodic task, one worker killed mid-run."""

from __future__ import annotations

import signal
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from seatsync.config import Settings
from seatsync.domain.periods import BillingPeriod
from seatsync.jobs import fanout
from seatsync.jobs.dispatch import JobState, ProcrastinateDispatcher
from seatsync.sandboxes import gradient as gradient_sandbox
from seatsync.sandboxes.connectwise import ConnectWiseSandbox, create_app
from seatsync.sandboxes.gradient import GradientSandbox
from seatsync.sandboxes.server import BackgroundServer
from tests.jobs.conftest import Workers, scalar, wait_for
from tests.jobs.world import GRADIENT_SERVICES, GRADIENT_VENDOR, build, connect_gradient

pytestmark = pytest.mark.postgres

TENANTS = 50
COMPANIES = 4


def _killable_moment(engine: Engine, worker_id: int) -> bool:
    """A ConnectWise push job of ``worker_id`` is running and its run has recorded some companies but not all."""
    sql = """
        SELECT count(*) FROM procrastinate_jobs j
          JOIN push_runs r ON r.id = (j.args->>'run_id')::int AND r.status = 'running'
                          AND r.target = 'connectwise'
         WHERE j.status = 'doing' AND j.worker_id = :w AND j.task_name = 'execute_push'
           AND (SELECT count(*) FROM push_results p WHERE p.run_id = r.id) BETWEEN 1 AND :most
    """
    return bool(scalar(engine, sql, w=worker_id, most=COMPANIES - 1))


def _gradient_jobs_done(engine: Engine) -> bool:
    sql = (
        "SELECT count(*) FROM procrastinate_jobs j JOIN push_runs r ON r.id = (j.args->>'run_id')::int "
        "WHERE j.task_name = 'execute_push' AND r.target = 'gradient' AND j.status = 'succeeded'"
    )
    return scalar(engine, sql) == TENANTS


def test_fifty_tenants_two_workers_one_killed(
    pg_url: str, pg_engine: Engine, workers: Workers, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    due = BillingPeriod.containing(now, UTC).previous()  # the month the schedule pushes now
    monkeypatch.setenv("SEATSYNC_GRADIENT_VENDOR_KEY", GRADIENT_VENDOR)
    workers.env["SEATSYNC_GRADIENT_VENDOR_KEY"] = GRADIENT_VENDOR
    # one company at a time within a push: its results are recorded one by one, so "mid-run" lasts
    workers.env["SEATSYNC_CONNECTWISE_CONCURRENCY"] = "1"
    sandbox = ConnectWiseSandbox(seed=None)
    gradient = GradientSandbox.seeded("empty")
    gradient_app = gradient_sandbox.create_app(gradient, rate_limit=100)
    with BackgroundServer(create_app(sandbox)) as server, BackgroundServer(gradient_app) as gradient_server:
        worlds = build(pg_engine, sandbox, server.url, tenants_count=TENANTS, companies=COMPANIES)
        # connected in the middle of the month before: exactly that month is due now
        connect_gradient(pg_engine, gradient, gradient_server.url, worlds, since=due.start(UTC) + timedelta(days=14))
        with sandbox.lock:
            sandbox.requests.clear()
        sandbox.configure(latency_ms=40)  # pushes long enough to be caught mid-run
        settings = Settings(database_url=pg_url)
        dispatcher = ProcrastinateDispatcher(pg_engine, settings)
        try:
            handles = [dispatcher.enqueue_push(w.id, "connectwise", due, "test") for w in worlds]
            again = dispatcher.enqueue_push(worlds[0].id, "connectwise", due, "test")
            assert again.existing and again.job_id == handles[0].job_id  # the queued one, not a second job

            # both workers defer the periodic schedule's latest tick on start: it runs once and fans out
            options = ("--concurrency", "4", "--heartbeat", "0.5", "--stalled-after", "2")
            victim = workers.start(*options)
            victim_id = wait_for(
                lambda: scalar(pg_engine, "SELECT min(id) FROM procrastinate_workers"), 120, "worker 1"
            )
            workers.start(*options)
            try:
                wait_for(lambda: _killable_moment(pg_engine, int(victim_id)), 120, "a push of worker 1 mid-run", 0.005)
                victim.send_signal(signal.SIGKILL)
                victim.wait(timeout=10)
                wait_for(lambda: all(h.finished for h in handles), 240, "every ConnectWise push job", 0.2)
                wait_for(lambda: _gradient_jobs_done(pg_engine), 240, "every scheduled Gradient push job", 0.2)
            except AssertionError:
                print(workers.output())
                raise
            assert {h.state() for h in handles} == {JobState.SUCCEEDED}, workers.output()
            # the schedule triggered again (another tick, an operator): nothing more is enqueued
            assert fanout.enqueue_due(pg_engine, settings, now=datetime.now(UTC)) == []
        finally:
            dispatcher.close()

    with pg_engine.connect() as conn:
        retried = conn.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE attempts > 0")).scalar()
        statuses = Counter(conn.execute(text("SELECT status FROM push_runs")).scalars())
        latest = dict(
            conn.execute(  # type: ignore[arg-type]
                text(
                    "SELECT DISTINCT ON (tenant_id, target) tenant_id || ':' || target, status FROM push_runs "
                    "ORDER BY tenant_id, target, started_at DESC, id DESC"
                )
            ).all()
        )
        gradient_jobs = Counter(
            conn.execute(
                text(
                    "SELECT r.tenant_id FROM procrastinate_jobs j JOIN push_runs r ON r.id = (j.args->>'run_id')::int "
                    "WHERE j.task_name = 'execute_push' AND r.target = 'gradient'"
                )
            ).scalars()
        )
        schedule_ticks = conn.execute(
            text("SELECT count(*), count(DISTINCT defer_timestamp) FROM procrastinate_periodic_defers")
        ).one()
        claims = Counter(conn.execute(text("SELECT tenant_id FROM scheduled_pushes")).scalars())
    assert retried and retried >= 1  # the killed worker's jobs were found stalled and run again
    assert statuses["running"] == 0 and statuses["interrupted"] >= 1
    assert latest == {f"{w.id}:{t}": "succeeded" for w in worlds for t in ("connectwise", "gradient")}

    # the periodic task: one job per tick for the cluster, and each tenant enqueued exactly once for the month
    assert schedule_ticks[0] == schedule_ticks[1] >= 1
    assert gradient_jobs == Counter({w.id: 1 for w in worlds})
    assert claims == Counter({w.id: 1 for w in worlds})

    # every changed quantity was set exactly once, to the right count, whatever the kill interrupted
    changes = Counter(c.addition_id for c in sandbox.changes if c.field == "quantity")
    expected = {addition: count for w in worlds for addition, count in w.expected.items()}
    assert changes == Counter(dict.fromkeys(expected, 1))
    assert {a: sandbox.additions[a]["quantity"] for a in expected} == {a: float(n) for a, n in expected.items()}
    # and one report per agreement, even for the company whose upload the killed worker may have sent
    assert set(Counter(d.record_id for d in sandbox.documents.values()).values()) == {1}

    # Gradient ends with each company's count for both services
    for w in worlds:
        services = {s["id"]: s["name"] for s in gradient.state(w.token)["services"]}
        got = {(account, services[service]): n for (account, service), n in gradient.latest_counts(w.token).items()}
        assert got == {(cid, name): n for cid, n in w.counts.items() for name in GRADIENT_SERVICES}
