"""The schedule runner with an injected clock, against the sandbox over real sockets, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select, update

from seatsync.db.engine import transaction
from seatsync.db.models import PushRun, ScheduledPush, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.push import runs
from seatsync.push.gradient import run_gradient_push
from seatsync.push.runs import RunStatus
from seatsync.push.scheduler import MAX_ATTEMPTS, Scheduler, next_scheduled_push, run_due
from seatsync.sandboxes.gradient import DEMO_PARTNER_TOKEN, DEMO_VENDOR_KEY
from seatsync.services import gradient as svc
from tests.gradient.gradient_helpers import Connected, connect, seed_tenant

ZONE = "America/Chicago"


def chicago(*args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(ZONE)).astimezone(UTC)  # type: ignore[misc]


pytestmark = pytest.mark.usefixtures("gradient_vendor_key")


@pytest.fixture
def world(engine: Engine, gradient: Any) -> Connected:
    connected = connect(engine, seed_tenant(engine, tz=ZONE), gradient.url)
    connected.set_connected_at(chicago(2026, 10, 15, 9, 0))
    return connected


def due(world: Connected, now: datetime) -> list[int]:
    return run_due(world.engine, now=now, client_factory=world.factory())


def scheduled(world: Connected) -> list[tuple[str, str, str]]:
    """(period, status, started_by) of every run, oldest first."""
    return [(r.period, r.status, r.started_by) for r in world.runs()]


def next_push(world: Connected, now: datetime) -> datetime | None:
    with transaction(world.engine) as session:
        tenant = session.get(Tenant, world.tenant.id)
        assert tenant is not None
        return next_scheduled_push(session, tenant=tenant, now=now)


def test_the_1st_at_midnight_in_the_tenant_zone_pushes_the_previous_month_once(world: Connected, gradient: Any) -> None:
    assert due(world, chicago(2026, 10, 31, 23, 59, 59)) == []  # already November 1 in UTC, not in Chicago
    assert next_push(world, chicago(2026, 10, 31, 23, 59, 59)) == chicago(2026, 11, 1, 0, 0)
    assert gradient.sandbox.latest_counts() == {}

    started = due(world, chicago(2026, 11, 1, 0, 0))
    assert len(started) == 1
    assert scheduled(world) == [("2026-10", RunStatus.SUCCEEDED, "schedule")]
    assert len(gradient.sandbox.latest_counts()) == 5

    assert due(world, chicago(2026, 11, 1, 0, 1)) == []  # the next tick: done already
    assert due(world, chicago(2026, 11, 20, 12, 0)) == []
    assert next_push(world, chicago(2026, 11, 1, 0, 1)) == chicago(2026, 12, 1, 0, 0)
    assert len(world.runs()) == 1


def test_a_push_now_of_an_unfinished_month_does_not_replace_the_scheduled_push(world: Connected) -> None:
    run_gradient_push(
        world.engine,
        tenant_id=world.tenant.id,
        period=BillingPeriod(2026, 10),
        started_by="op@x",
        client_factory=world.factory(),
    )
    due(world, chicago(2026, 11, 1, 0, 0))
    assert [p for p, _, by in scheduled(world) if by == "schedule"] == ["2026-10"]


def test_missed_1sts_are_caught_up_once_each_oldest_first(world: Connected) -> None:
    due(world, chicago(2026, 11, 1, 0, 0))
    # seatsync was down over December 1 and January 1
    assert next_push(world, chicago(2027, 1, 5, 8, 0)) == chicago(2026, 12, 1, 0, 0)  # overdue
    started = due(world, chicago(2027, 1, 5, 8, 0))
    assert len(started) == 2
    assert [p for p, _, _ in scheduled(world)] == ["2026-10", "2026-11", "2026-12"]
    assert due(world, chicago(2027, 1, 5, 8, 1)) == []
    assert next_push(world, chicago(2027, 1, 5, 8, 1)) == chicago(2027, 2, 1, 0, 0)


def test_months_before_the_connection_are_not_caught_up(world: Connected) -> None:
    world.set_connected_at(chicago(2026, 12, 10, 0, 0))
    assert due(world, chicago(2027, 1, 1, 0, 0)) != []
    assert [p for p, _, _ in scheduled(world)] == ["2026-12"]


def test_a_missed_1st_is_caught_up_exactly_once_when_two_callers_race(world: Connected, gradient: Any) -> None:
    now = chicago(2026, 12, 3, 10, 0)  # October and November are due
    barrier = threading.Barrier(3)
    started: list[list[int]] = []

    def caller() -> None:
        barrier.wait()
        started.append(due(world, now))

    threads = [threading.Thread(target=caller) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(started) == 3
    assert sum(len(s) for s in started) == 2  # one run per period, whoever won it
    assert sorted(p for p, _, _ in scheduled(world)) == ["2026-10", "2026-11"]
    assert len(gradient.sandbox.state()["counts"]) == 2 * 5
    assert due(world, now) == []
    with transaction(world.engine) as session:
        claims = list(session.scalars(select(ScheduledPush).order_by(ScheduledPush.period)))
    assert [(c.period, c.attempts) for c in claims] == [("2026-10", 1), ("2026-11", 1)]


def test_a_scheduled_run_whose_process_died_is_pushed_again(world: Connected) -> None:
    due(world, chicago(2026, 11, 1, 0, 0))
    first = world.runs()[0].id
    # as if the process had died during that push: the run still says running, its heartbeat long gone
    with transaction(world.engine) as session:
        session.execute(
            update(PushRun)
            .where(PushRun.id == first)
            .values(status=RunStatus.RUNNING, heartbeat_at=datetime.now(UTC) - runs.LEASE * 2)
        )
    started = due(world, chicago(2026, 11, 1, 0, 5))
    assert len(started) == 1
    assert world.run(first).status == RunStatus.INTERRUPTED
    assert world.run(started[0]).status == RunStatus.SUCCEEDED
    assert due(world, chicago(2026, 11, 1, 0, 6)) == []
    with transaction(world.engine) as session:
        claim = session.scalars(select(ScheduledPush)).one()
    assert (claim.attempts, claim.run_id) == (2, started[0])


def test_a_failed_scheduled_run_is_retried_later_a_bounded_number_of_times(world: Connected) -> None:
    due(world, chicago(2026, 11, 1, 0, 0))
    run_id = world.runs()[0].id

    def fail_it(minutes_ago: int) -> None:
        with transaction(world.engine) as session:
            session.execute(
                update(PushRun)
                .where(PushRun.tenant_id == world.tenant.id)
                .values(status=RunStatus.FAILED, finished_at=datetime.now(UTC) - timedelta(minutes=minutes_ago))
            )

    fail_it(1)
    assert due(world, chicago(2026, 11, 1, 0, 1)) == []  # too soon
    fail_it(16)
    for attempt in range(2, MAX_ATTEMPTS + 1):
        assert len(due(world, chicago(2026, 11, 1, 1, attempt))) == 1, attempt
        fail_it(16)
    assert due(world, chicago(2026, 11, 1, 2, 0)) == []  # given up: the history shows the failures
    assert len(world.runs()) == MAX_ATTEMPTS
    assert world.run(run_id).status == RunStatus.FAILED


def test_a_broken_connection_waits_for_a_reconnect_then_catches_up(world: Connected, gradient: Any) -> None:
    gradient.sandbox.revoke(DEMO_PARTNER_TOKEN)
    started = due(world, chicago(2026, 11, 1, 0, 0))
    assert len(started) == 1
    assert world.run(started[0]).status == RunStatus.FAILED
    assert world.integration().status == svc.ConnectionStatus.BROKEN
    assert next_push(world, chicago(2026, 11, 1, 0, 1)) is None
    assert due(world, chicago(2026, 12, 2, 0, 0)) == []  # broken: nothing is tried

    gradient.sandbox.add_partner(DEMO_VENDOR_KEY, DEMO_PARTNER_TOKEN, psa_companies=["Initech"])
    # reconnected in November (the clock of this test, not the machine's: the reconnect's instant decides which
    # months are still due)
    connect(world.engine, world.tenant, world.url).set_connected_at(chicago(2026, 11, 20, 9, 0))
    with transaction(world.engine) as session:  # the failed attempt is old enough to be retried
        session.execute(update(PushRun).values(finished_at=datetime.now(UTC) - timedelta(hours=1)))
    again = due(world, chicago(2026, 12, 2, 0, 0))
    assert [world.run(r).period for r in again] == ["2026-10", "2026-11"]
    assert all(world.run(r).status == RunStatus.SUCCEEDED for r in again)


def test_disconnected_tenants_are_left_alone(world: Connected) -> None:
    with transaction(world.engine) as session:
        tenant = session.get(Tenant, world.tenant.id)
        assert tenant is not None
        svc.disconnect(session, tenant=tenant)
    assert due(world, chicago(2026, 11, 1, 0, 0)) == []
    assert next_push(world, chicago(2026, 11, 1, 0, 0)) is None


def test_the_scheduler_loop_runs_at_start_and_stops(world: Connected) -> None:
    scheduler = Scheduler(
        world.engine, clock=lambda: chicago(2026, 11, 1, 0, 0), interval=0.05, client_factory=world.factory()
    )
    scheduler.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while not scheduler.started and datetime.now(UTC) < deadline:
            threading.Event().wait(0.05)
        threading.Event().wait(0.2)  # a few more ticks: nothing more is pushed
    finally:
        scheduler.stop(timeout=20)
    assert len(scheduler.started) == 1
    assert scheduled(world) == [("2026-10", RunStatus.SUCCEEDED, "schedule")]
