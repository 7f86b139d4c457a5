"""Tenants' own ConnectWise schedules on the real PostgreSQL, with `seatsync serve` and two `seatsync worker`
processes running at once: each tenant's due period is pushed exactly once."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, select, text, update

from seatsync.config import Settings, get_settings
from seatsync.db.engine import transaction
from seatsync.db.models import Integration, TargetAutomation, Tenant
from seatsync.domain.monthly import MonthlySchedule
from seatsync.domain.periods import BillingPeriod
from seatsync.jobs import fanout
from seatsync.push import scheduler
from seatsync.sandboxes.connectwise import ConnectWiseSandbox, create_app
from seatsync.sandboxes.server import BackgroundServer, free_port
from seatsync.services import automation
from tests.jobs.conftest import Workers, scalar, wait_for
from tests.jobs.world import build

pytestmark = pytest.mark.postgres

TENANTS = 3
SCHEDULE = MonthlySchedule.parse(day=1, at="00:00", period="previous")


def test_a_schedule_fires_once_per_tenant_target_and_period(
    pg_url: str, pg_engine: Engine, workers: Workers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = Fernet.generate_key().decode()  # one key for this process, the server and the workers
    monkeypatch.setenv("SEATSYNC_SECRET_KEY", key)
    workers.env["SEATSYNC_SECRET_KEY"] = key
    get_settings.cache_clear()
    now = datetime.now(UTC)
    this_month = BillingPeriod.containing(now, UTC)
    due = this_month.previous()  # the month this month's fire pushes
    set_before = SCHEDULE.fire(this_month, UTC) - timedelta(days=1)  # after last month's fire: one period is due
    sandbox = ConnectWiseSandbox(seed=None)
    with BackgroundServer(create_app(sandbox)) as server:
        worlds = build(pg_engine, sandbox, server.url, tenants_count=TENANTS, companies=2)
        with transaction(pg_engine) as session:
            for w in worlds:
                tenant = session.get(Tenant, w.id)
                assert tenant is not None
                automation.set_schedule(session, tenant=tenant, target="connectwise", schedule=SCHEDULE, by="test")
                automation.schedule_off(session, tenant=tenant, target="gradient", by="test")
            session.execute(update(Integration).values(connected_at=set_before))
            session.execute(update(TargetAutomation).values(updated_at=set_before))

        port = free_port()
        log = (tmp_path / "serve.log").open("wb")
        serve = subprocess.Popen(
            [sys.executable, "-m", "seatsync", "serve", "--port", str(port)],
            env=workers.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        try:
            wait_for(lambda: _answers(port), 60, "seatsync serve", 0.1)
            workers.start("--concurrency", "2", "--heartbeat", "0.5")
            workers.start("--concurrency", "2", "--heartbeat", "0.5")
            wait_for(lambda: scalar(pg_engine, "SELECT count(*) FROM procrastinate_workers") == 2, 60, "two workers")
            done = "SELECT count(*) FROM push_runs WHERE started_by = 'schedule' AND status = 'succeeded'"
            try:
                wait_for(lambda: scalar(pg_engine, done) == TENANTS, 120, "every tenant's scheduled push", 0.2)
            except AssertionError:
                print(workers.output(), (tmp_path / "serve.log").read_text(errors="replace"))
                raise
            # triggered again by hand, from another process's point of view: nothing more
            assert fanout.enqueue_due(pg_engine, Settings(database_url=pg_url), now=datetime.now(UTC)) == []
            assert scheduler.run_due(pg_engine, now=datetime.now(UTC)) == []
            assert _answers(port)
        finally:
            serve.terminate()
            serve.wait(timeout=20)

    with pg_engine.connect() as conn:
        runs = Counter(
            conn.execute(text("SELECT tenant_id || ':' || target || ':' || period FROM push_runs")).scalars()
        )
        claims = Counter(conn.execute(text("SELECT tenant_id FROM scheduled_pushes")).scalars())
    assert runs == Counter({f"{w.id}:connectwise:{due}": 1 for w in worlds})
    assert claims == Counter({w.id: 1 for w in worlds})
    changes = Counter(c.addition_id for c in sandbox.changes if c.field == "quantity")
    expected = {addition: count for w in worlds for addition, count in w.expected.items()}
    assert changes == Counter(dict.fromkeys(expected, 1))
    with transaction(pg_engine) as session:
        assert session.scalar(select(TargetAutomation.schedule_enabled).limit(1)) is True


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/login", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
