"""The schedule's fan-out enqueues each tenant once per period, however many times (and at once) it is triggered,
one period at a time per tenant and target (oldest first)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from seatsync.config import Settings
from seatsync.domain.periods import BillingPeriod
from seatsync.jobs import fanout
from seatsync.sandboxes import gradient as gradient_sandbox
from seatsync.sandboxes.connectwise import ConnectWiseSandbox, create_app
from seatsync.sandboxes.gradient import GradientSandbox
from seatsync.sandboxes.server import BackgroundServer
from tests.jobs.world import GRADIENT_VENDOR, build, connect_gradient

pytestmark = pytest.mark.postgres


def test_triggered_twice_at_once_enqueues_each_tenant_once(
    pg_url: str, pg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEATSYNC_GRADIENT_VENDOR_KEY", GRADIENT_VENDOR)
    now = datetime.now(UTC)
    due = BillingPeriod.containing(now, UTC).previous()
    gradient = GradientSandbox.seeded("empty")
    sandbox = ConnectWiseSandbox(seed=None)
    with (
        BackgroundServer(create_app(sandbox)) as server,
        BackgroundServer(gradient_sandbox.create_app(gradient, rate_limit=None)) as gradient_server,
    ):
        worlds = build(pg_engine, sandbox, server.url, tenants_count=4, companies=1)
        # two months due for the first tenant (connected before both 1sts), one for the others
        connect_gradient(
            pg_engine, gradient, gradient_server.url, worlds[:1], since=due.start(UTC) - timedelta(days=20)
        )
        connect_gradient(
            pg_engine, gradient, gradient_server.url, worlds[1:], since=due.start(UTC) + timedelta(days=14)
        )

    settings = Settings(database_url=pg_url)
    results: list[list[int]] = []
    barrier = threading.Barrier(3)

    def trigger() -> None:
        barrier.wait()
        results.append(fanout.enqueue_due(pg_engine, settings, now=now))

    threads = [threading.Thread(target=trigger) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # one run per tenant and target at a time: the first tenant's older month now, its newer one once that ran
    assert sum(len(r) for r in results) == 4
    assert fanout.enqueue_due(pg_engine, settings, now=now) == []  # and later triggers add nothing meanwhile
    with pg_engine.begin() as conn:  # the first tenant's run finished (as a worker would have run it)
        conn.execute(
            text("UPDATE push_runs SET status = 'succeeded' WHERE tenant_id = :t AND period = :p"),
            {"t": worlds[0].id, "p": str(due.previous())},
        )
    assert len(fanout.enqueue_due(pg_engine, settings, now=now)) == 1
    assert fanout.enqueue_due(pg_engine, settings, now=now) == []

    with pg_engine.connect() as conn:
        jobs = Counter(
            (int(tenant), period)
            for tenant, period in conn.execute(
                text(
                    "SELECT r.tenant_id, r.period FROM procrastinate_jobs j JOIN push_runs r "
                    "ON r.id = (j.args->>'run_id')::int WHERE j.task_name = 'execute_push' AND r.target = 'gradient'"
                )
            )
        )
        claims = conn.execute(text("SELECT count(*) FROM seatsync_fanout WHERE job_id IS NOT NULL")).scalar()
    expected = {(w.id, str(due)): 1 for w in worlds} | {(worlds[0].id, str(due.previous())): 1}
    assert jobs == Counter(expected)
    assert claims == 5
