"""Autotask through the one push engine and the CLI: a push with 20 % faults and a low threshold ends with every
unit count right and no duplicate adjustment or attachment; the read-only user's push fails naming the missing
permission; ``seatsync push autotask``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from click.testing import CliRunner
from sqlalchemy import Engine, select

from seatsync.cli.main import cli
from seatsync.connectors.autotask import HourlyBudget
from seatsync.connectors.http import RetryPolicy
from seatsync.db.engine import transaction
from seatsync.db.models import PushResult, PushRun, Tenant
from seatsync.push import engine as push_engine
from seatsync.push.runs import Outcome
from seatsync.sandboxes.autotask import DEMO_INTEGRATION_CODE, AutotaskSandbox
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services import automation, autotask_connection
from seatsync.targets.base import PushOptions
from tests.autotask.conftest import FakeClock, make_client
from tests.autotask.pushing import DAY, PERIOD, mapped_tenant

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def _connect(engine: Engine, tenant_id: int, url: str, username: str, secret: str) -> None:
    with transaction(engine) as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        autotask_connection.connect(
            session, tenant=tenant, username=username, secret=secret, integration_code=DEMO_INTEGRATION_CODE,
            zone_url=url,
        )  # fmt: skip


def test_faults_and_a_low_threshold_through_the_engine(
    engine: Engine, sandbox: AutotaskSandbox, server: BackgroundServer, clock: FakeClock
) -> None:
    sizes = {f"c{n:02d}": 2 + n % 7 for n in range(30)}
    with make_client(server, clock) as setup_client:
        mapped = mapped_tenant(engine, sandbox, setup_client, sizes)
    _connect(engine, mapped.tenant.id, server.url, "demo-api@example.com", "demo-secret")
    sandbox.threshold.limit = 500
    sandbox.threshold.stamps.clear()
    sandbox.threshold.peak = 0
    sandbox.spend_by_others(150)
    sandbox.fault_rate = 0.2
    budget = HourlyBudget(0.5, check_every=10, slow_seconds=0, wait_seconds=300, max_wait=3600, sleep=clock.sleep)

    def client_factory(session: Any, tenant: Tenant) -> Any:
        return autotask_connection.client_for(
            session,
            tenant=tenant,
            budget=budget,
            sleep=clock.sleep,
            retry=RetryPolicy(max_retries=8, backoff_base=0.01, backoff_cap=0.05),
        )

    statuses = []
    for attempt in range(6):
        options = PushOptions(period=PERIOD, retry_failed=attempt > 0, started_by="test")
        run_id = push_engine.push(
            engine, tenant_id=mapped.tenant.id, target="autotask", options=options, client_factory=client_factory,
            clock=lambda: NOW,
        )  # fmt: skip
        with transaction(engine) as session:
            run = session.get(PushRun, run_id)
            assert run is not None
            statuses.append(run.status)
            if run.status == "succeeded":
                break
    assert statuses[-1] == "succeeded", statuses
    assert any(r.fault == "lost" for r in sandbox.requests) and sum(1 for r in sandbox.requests if r.fault) > 10
    for company_id, (contract, service) in mapped.items.items():
        assert sandbox.units_on(service, DAY) == sizes[company_id], company_id
        posted = [a for a in sandbox.adjustments if a["contractServiceID"] == service]
        assert len(posted) == (0 if sizes[company_id] == 5 else 1), company_id
        assert len([a for a in sandbox.attachments.values() if a["contractID"] == contract]) == 1, company_id
    assert sandbox.threshold.peak <= 250 and budget.waited > 0
    with transaction(engine) as session:
        rows = session.scalars(select(PushResult).where(PushResult.item_id.is_not(None))).all()
        assert {r.contract_id for r in rows} == {str(c) for c, _ in mapped.items.values()}


def test_the_read_only_users_push_fails_naming_the_permission(
    engine: Engine, sandbox: AutotaskSandbox, server: BackgroundServer, client: Any, database_url: str
) -> None:
    mapped = mapped_tenant(engine, sandbox, client, {"acme": 8})
    _connect(engine, mapped.tenant.id, server.url, "readonly-api@example.com", "readonly-secret")
    result = CliRunner().invoke(
        cli,
        ["push", "autotask", "--tenant", mapped.tenant.slug, "--period", str(PERIOD), "--database-url", database_url],
    )
    assert result.exit_code == 1, result.output
    assert "lacks 'contract services adjust'" in result.output
    assert sandbox.adjustments == []


def test_cli_push_dry_run_and_a_period_not_started(
    engine: Engine, sandbox: AutotaskSandbox, server: BackgroundServer, client: Any, database_url: str
) -> None:
    mapped = mapped_tenant(engine, sandbox, client, {"acme": 8, "globex": 5})
    _connect(engine, mapped.tenant.id, server.url, "demo-api@example.com", "demo-secret")
    base = ["--tenant", mapped.tenant.slug, "--database-url", database_url]
    plan = CliRunner().invoke(cli, ["push", "autotask", "--period", str(PERIOD), "--dry-run", *base])
    assert plan.exit_code == 0 and "update" in plan.output and sandbox.adjustments == []
    pushed = CliRunner().invoke(cli, ["push", "autotask", "--period", str(PERIOD), *base])
    assert pushed.exit_code == 0, pushed.output
    assert "1 succeeded, 1 unchanged" in pushed.output
    assert sandbox.units_on(mapped.items["acme"][1], DAY) == 8
    again = CliRunner().invoke(cli, ["push", "autotask", "--period", str(PERIOD), *base])
    assert again.exit_code == 0 and "0 succeeded, 2 unchanged" in again.output
    assert len(sandbox.adjustments) == 1 and len(sandbox.attachments) == 2
    future = CliRunner().invoke(cli, ["push", "autotask", "--period", "2199-12", *base])
    assert future.exit_code == 2
    with transaction(engine) as session:
        outcomes = {r.outcome for r in session.scalars(select(PushResult))}
    assert outcomes <= {Outcome.SUCCEEDED.value, Outcome.UNCHANGED.value}


def test_cli_push_exits_1_while_rows_wait_for_approval(
    engine: Engine, sandbox: AutotaskSandbox, server: BackgroundServer, client: Any, database_url: str
) -> None:
    """As every other ``push`` command: a row held over the approval threshold was not pushed, so the command
    exits 1 and says how to send it; confirmed with --approve-over-threshold, it is sent and the command exits 0."""
    mapped = mapped_tenant(engine, sandbox, client, {"acme": 8, "globex": 5})  # units now 5 each
    _connect(engine, mapped.tenant.id, server.url, "demo-api@example.com", "demo-secret")
    with transaction(engine) as session:
        tenant = session.get(Tenant, mapped.tenant.id)
        assert tenant is not None
        automation.set_threshold(session, tenant=tenant, target="autotask", percent=None, seats=2, by="test")
    args = ["push", "autotask", "--tenant", mapped.tenant.slug, "--period", str(PERIOD), "--database-url", database_url]

    held = CliRunner().invoke(cli, args)
    assert held.exit_code == 1, held.output
    assert "1 row over the approval threshold waits for approval (acme)" in held.output
    assert sandbox.units_on(mapped.items["acme"][1], DAY) == 5 and sandbox.adjustments == []
    with transaction(engine) as session:
        outcomes = {r.outcome for r in session.scalars(select(PushResult))}
    assert outcomes == {Outcome.AWAITING_APPROVAL.value, Outcome.UNCHANGED.value}

    sent = CliRunner().invoke(cli, [*args, "--approve-over-threshold"])
    assert sent.exit_code == 0, sent.output
    assert sandbox.units_on(mapped.items["acme"][1], DAY) == 8
