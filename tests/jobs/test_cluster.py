"""Two ``seatsync worker`` processes on the real PostgreSQL, 50 tenants pushed at once, one worker killed mid-run."""

from __future__ import annotations

import signal
from collections import Counter

import pytest
from sqlalchemy import Engine, text

from seatsync.config import Settings
from seatsync.domain.periods import BillingPeriod
from seatsync.jobs.dispatch import JobState, ProcrastinateDispatcher
from seatsync.sandboxes.connectwise import ConnectWiseSandbox, create_app
from seatsync.sandboxes.server import BackgroundServer
from tests.jobs.conftest import Workers, scalar, wait_for
from tests.jobs.world import build

pytestmark = pytest.mark.postgres

PERIOD = BillingPeriod(2026, 10)
TENANTS = 50
COMPANIES = 4


def _killable_moment(engine: Engine, worker_id: int) -> bool:
    """A push job of ``worker_id`` is running and its run has recorded some companies but not all."""
    sql = """
        SELECT count(*) FROM procrastinate_jobs j
          JOIN push_runs r ON r.tenant_id = (j.args->>'tenant_id')::int AND r.status = 'running'
         WHERE j.status = 'doing' AND j.worker_id = :w
           AND (SELECT count(*) FROM push_results p WHERE p.run_id = r.id) BETWEEN 1 AND :most
    """
    return bool(scalar(engine, sql, w=worker_id, most=COMPANIES - 1))


def test_fifty_tenants_two_workers_one_killed(pg_url: str, pg_engine: Engine, workers: Workers) -> None:
    sandbox = ConnectWiseSandbox(seed=None)
    with BackgroundServer(create_app(sandbox)) as server:
        worlds = build(pg_engine, sandbox, server.url, tenants_count=TENANTS, companies=COMPANIES)
        sandbox.configure(latency_ms=40)  # pushes long enough to be caught mid-run
        dispatcher = ProcrastinateDispatcher(pg_engine, Settings(database_url=pg_url))
        try:
            handles = [dispatcher.enqueue_push(w.id, "connectwise", PERIOD, "test") for w in worlds]
            again = dispatcher.enqueue_push(worlds[0].id, "connectwise", PERIOD, "test")
            assert again.existing and again.job_id == handles[0].job_id  # the queued one, not a second job

            options = ("--concurrency", "4", "--heartbeat", "0.5", "--stalled-after", "2")
            victim = workers.start(*options)
            victim_id = wait_for(lambda: scalar(pg_engine, "SELECT min(id) FROM procrastinate_workers"), 20, "worker 1")
            workers.start(*options)
            try:
                wait_for(lambda: _killable_moment(pg_engine, int(victim_id)), 30, "a push of worker 1 mid-run", 0.005)
                victim.send_signal(signal.SIGKILL)
                victim.wait(timeout=10)
                wait_for(lambda: all(h.finished for h in handles), 40, "every push job to finish", 0.2)
            except AssertionError:
                print(workers.output())
                raise
            assert {h.state() for h in handles} == {JobState.SUCCEEDED}, workers.output()
        finally:
            dispatcher.close()

    with pg_engine.connect() as conn:
        retried = conn.execute(
            text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'push_connectwise' AND attempts > 0")
        ).scalar()
        statuses = Counter(conn.execute(text("SELECT status FROM push_runs")).scalars())
        latest = dict(
            conn.execute(
                text(
                    "SELECT DISTINCT ON (tenant_id) tenant_id, status FROM push_runs "
                    "ORDER BY tenant_id, started_at DESC, id DESC"
                )
            )
        )
    assert retried and retried >= 1  # the killed worker's job was found stalled and run again
    assert statuses["running"] == 0 and statuses["interrupted"] >= 1
    assert latest == {w.id: "succeeded" for w in worlds}

    # every changed quantity was set exactly once, to the right count, whatever the kill interrupted
    changes = Counter(c.addition_id for c in sandbox.changes if c.field == "quantity")
    expected = {addition: count for w in worlds for addition, count in w.expected.items()}
    assert changes == Counter(dict.fromkeys(expected, 1))
    assert {a: sandbox.additions[a]["quantity"] for a in expected} == {a: float(n) for a, n in expected.items()}
    # and one report per agreement, even for the company whose upload the killed worker may have sent
    per_agreement = Counter(d.record_id for d in sandbox.documents.values())
    assert set(per_agreement.values()) == {1}
