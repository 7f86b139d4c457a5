"""One scheduler per deployment: on SQLite the in-process loop of ``seatsync serve``; on PostgreSQL the
Procrastinate periodic task whenever a worker runs, ``serve``'s loop standing in only while none does; and at the
hand-over, when both fire in the same instant, the schedule's claim keeps each tenant, target and period to
exactly one run."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text, update

from seatsync.config import Settings
from seatsync.db.engine import make_engine, transaction
from seatsync.db.models import Integration, TargetAutomation, Tenant
from seatsync.domain.monthly import MonthlySchedule
from seatsync.domain.periods import BillingPeriod
from seatsync.jobs import fanout
from seatsync.jobs.dispatch import schedules_here
from seatsync.push.scheduler import Scheduler
from seatsync.sandboxes.connectwise import ConnectWiseSandbox, create_app
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services import automation
from tests.jobs.world import build

SCHEDULE = MonthlySchedule.parse(day=1, at="00:00", period="previous")


def test_on_sqlite_the_in_process_loop_schedules(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    assert schedules_here(Settings(), engine)
    assert schedules_here(Settings(job_queue="inprocess"), engine)


@pytest.mark.postgres
def test_on_postgresql_the_periodic_task_schedules_whenever_a_worker_runs(pg_url: str, pg_engine: Engine) -> None:
    auto = Settings(database_url=pg_url)
    # `seatsync serve` alone (the product's "in-process scheduler when no distributed worker is configured")
    assert schedules_here(auto, pg_engine)
    assert not schedules_here(Settings(database_url=pg_url, job_queue="procrastinate"), pg_engine)
    with pg_engine.begin() as conn:  # a worker's heartbeat, as `seatsync worker` writes it
        conn.execute(text("INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now())"))
    assert not schedules_here(auto, pg_engine)  # the workers' periodic task has the schedule
    ticks = Scheduler(pg_engine, enabled=lambda: schedules_here(auto, pg_engine), clock=lambda: datetime.now(UTC))
    assert ticks.tick() == []
    with pg_engine.begin() as conn:  # every worker silent for minutes: serve's loop stands in again
        conn.execute(text("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '5 minutes'"))
    assert schedules_here(auto, pg_engine)


@pytest.mark.postgres
def test_the_loop_and_the_periodic_task_firing_at_once_push_each_period_once(pg_url: str, pg_engine: Engine) -> None:
    tenants = 4
    now = datetime.now(UTC)
    this_month = BillingPeriod.containing(now, UTC)
    due = this_month.previous()
    set_before = SCHEDULE.fire(this_month, UTC) - timedelta(days=1)  # one period is due for every tenant
    sandbox = ConnectWiseSandbox(seed=None)
    settings = Settings(database_url=pg_url)
    with BackgroundServer(create_app(sandbox)) as server:
        worlds = build(pg_engine, sandbox, server.url, tenants_count=tenants, companies=1)
        with transaction(pg_engine) as session:
            for w in worlds:
                tenant = session.get(Tenant, w.id)
                assert tenant is not None
                automation.set_schedule(session, tenant=tenant, target="connectwise", schedule=SCHEDULE, by="test")
                automation.schedule_off(session, tenant=tenant, target="gradient", by="test")
            session.execute(update(Integration).values(connected_at=set_before))
            session.execute(update(TargetAutomation).values(updated_at=set_before))

        # the hand-over: serve's loop checked a moment ago that no worker ran; a worker's periodic task fires now
        loop = Scheduler(pg_engine, clock=lambda: now, shared_pacing=True)
        queued: list[int] = []
        barrier = threading.Barrier(2)

        def periodic_task() -> None:
            barrier.wait()
            queued.extend(fanout.enqueue_due(pg_engine, settings, now=now))

        def serve_loop() -> None:
            barrier.wait()
            loop.tick()

        threads = [threading.Thread(target=periodic_task), threading.Thread(target=serve_loop)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert len(loop.started) + len(queued) == tenants  # between them, every tenant once
        assert loop.tick() == [] and fanout.enqueue_due(pg_engine, settings, now=now) == []  # and nothing more

    with pg_engine.connect() as conn:
        runs = Counter(
            conn.execute(text("SELECT tenant_id || ':' || target || ':' || period FROM push_runs")).scalars()
        )
        claims = Counter(
            conn.execute(text("SELECT tenant_id || ':' || target || ':' || period FROM scheduled_pushes")).scalars()
        )
        in_process = set(
            conn.execute(text("SELECT tenant_id FROM push_runs WHERE id = ANY(:ids)"), {"ids": loop.started}).scalars()
        )
    assert runs == Counter({f"{w.id}:connectwise:{due}": 1 for w in worlds})
    assert claims == runs
    # what the loop pushed reached ConnectWise once; what the task queued waits for a worker (not sent meanwhile)
    changes = Counter(c.addition_id for c in sandbox.changes if c.field == "quantity")
    assert changes == Counter({a: 1 for w in worlds if w.id in in_process for a in w.expected})
