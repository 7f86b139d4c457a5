"""``seatsync push gradient`` and ``seatsync disconnect gradient`` against the sandbox, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from seatsync.cli.main import cli
from seatsync.domain.periods import BillingPeriod
from seatsync.services import gradient as svc
from tests.gradient.gradient_helpers import TOKEN, Connected

pytestmark = pytest.mark.usefixtures("gradient_vendor_key")


@pytest.fixture
def world(gradient_world: Connected) -> Connected:
    return gradient_world


def invoke(database_url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--database-url", database_url])


def test_dry_run_prints_the_counts_and_sends_nothing(world: Connected, gradient: Any, database_url: str) -> None:
    result = invoke(database_url, "push", "gradient", "--tenant", world.tenant.slug, "--period", "2026-10", "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "dry run" in lines[0]
    assert any(line.split()[:1] == ["c-1"] and "Security Awareness Training" in line and " 2" in line for line in lines)
    assert any(
        line.startswith("c-3") and "Phishing Simulation" in line and line.rstrip().endswith("0") for line in lines
    )
    assert "5 count(s) would be sent" in result.output
    assert gradient.sandbox.latest_counts() == {}
    assert world.runs() == []


def test_push_prints_a_summary_and_exits_0_with_not_mapped_accounts(
    world: Connected, gradient: Any, database_url: str
) -> None:
    gradient.sandbox.map(accounts=["c-2"], unmap=True)
    result = invoke(database_url, "push", "gradient", "--tenant", world.tenant.slug, "--period", "2026-10")
    assert result.exit_code == 0, result.output
    assert "not mapped in Gradient" in result.output
    assert "succeeded; 4 succeeded, 1 not mapped in Gradient, 0 failed" in result.output
    assert len(gradient.sandbox.latest_counts()) == 4
    [run] = world.runs()
    assert (run.period, run.started_by) == ("2026-10", "cli")


def test_the_default_period_is_the_previous_month_in_the_tenant_zone(world: Connected, database_url: str) -> None:
    result = invoke(database_url, "push", "gradient", "--tenant", world.tenant.slug)
    assert result.exit_code == 0, result.output
    expected = BillingPeriod.containing(datetime.now(UTC), ZoneInfo("UTC")).previous()
    assert [r.period for r in world.runs()] == [str(expected)]


def test_a_refused_token_exits_1_and_marks_broken(world: Connected, gradient: Any, database_url: str) -> None:
    gradient.sandbox.revoke(TOKEN)
    result = invoke(database_url, "push", "gradient", "--tenant", world.tenant.slug, "--period", "2026-10")
    assert result.exit_code == 1
    assert "refused the credentials" in result.output
    assert world.integration().status == svc.ConnectionStatus.BROKEN


def test_disconnect(world: Connected, gradient: Any, database_url: str) -> None:
    result = invoke(database_url, "disconnect", "gradient", "--tenant", world.tenant.slug)
    assert result.exit_code == 0, result.output
    assert world.integration().status == svc.ConnectionStatus.DISCONNECTED
    assert gradient.sandbox.state()["status"] == "inactive"
    pushed = invoke(database_url, "push", "gradient", "--tenant", world.tenant.slug, "--period", "2026-10")
    assert pushed.exit_code == 1
    assert "seatsync connect gradient" in pushed.output


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_history_names_each_service_not_its_id(world: Connected, gradient: Any, database_url: str) -> None:
    """Issue 17.5: a Gradient run's rows in History (CLI, CSV, API and the run's page) name the service."""
    from fastapi.testclient import TestClient

    from seatsync.db.engine import transaction
    from seatsync.services.tenants import create_operator
    from seatsync.web.app import create_app

    assert invoke(database_url, "push", "gradient", "--tenant", world.tenant.slug, "--period", "2026-10").exit_code == 0
    [run] = world.runs()
    ids = {s.id for v in gradient.sandbox.vendors.values() for s in v.services.values()}
    assert ids
    shown = invoke(database_url, "history", "--tenant", world.tenant.slug, "--run", str(run.id))
    assert shown.exit_code == 0, shown.output
    header = next(line for line in shown.output.splitlines() if line.startswith("company_id"))
    assert header.split()[:3] == ["company_id", "company", "service"]
    assert "Security Awareness Training" in shown.output and "Phishing Simulation" in shown.output
    assert not any(i in shown.output for i in ids), "no raw service id"
    exported = invoke(database_url, "history", "--tenant", world.tenant.slug, "--run", str(run.id), "--format", "csv")
    assert ",Security Awareness Training," in exported.output and "service_name" in exported.output.splitlines()[0]

    with transaction(world.engine) as session:
        create_operator(session, tenant=world.tenant, email="admin@g.test", password="long enough pw", role="admin")
    with TestClient(create_app(engine=world.engine)) as client:
        client.post("/api/v1/auth/login", json={"email": "admin@g.test", "password": "long enough pw"})
        page = client.get(f"/history/{run.id}").text
        assert "Run #" in page and "Gradient for 2026-10" in page
        assert ">Security Awareness Training</td>" in page and ">Phishing Simulation</td>" in page
        rows = client.get(f"/api/v1/pushes/{run.id}", params={"results": "true"}).json()["results"]
        assert {r["service_name"] for r in rows} == {"Security Awareness Training", "Phishing Simulation"}
        assert "service_name" in client.get(f"/api/v1/pushes/{run.id}/results.csv").text.splitlines()[0]
