"""The tenant's zone in every shown time (issue 17.4): for a tenant in New York, every date and time of day that a
page or a CLI command shows is local time followed by the zone's name, never a bare or UTC time."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from seatsync.cli.main import cli
from seatsync.db.engine import transaction
from seatsync.db.models import Company, PushResult, PushRun, Tenant
from seatsync.domain.monthly import MonthlySchedule
from seatsync.services import automation
from seatsync.services.tenants import get_tenant
from tests.web.conftest import World
from tests.web.test_automation_web import held
from tests.web.test_pages import form_login

ZONE = "America/New_York"
#: a date with a time of day, as any surface could print it (ISO with T, or with a space)
TIME_OF_DAY = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:[+-]\d{2}:\d{2}|Z)?( \S+)?")
PAGES = [
    "/",
    "/companies",
    "/connectwise/billing",
    "/autotask/billing",
    "/halopsa/billing",
    "/integrations",
    "/approvals",
    "/history",
    "/operators",
    "/tokens",
]


def shown_text(page: str) -> str:
    """What a reader sees: the page without scripts, styles and tags (attributes such as ``datetime`` are
    machine-readable and may be UTC)."""
    page = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", page)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def times_not_in_zone(text: str) -> list[str]:
    return [m.group(0) for m in TIME_OF_DAY.finditer(text) if m.group(1) != f" {ZONE}"]


def new_york_tenant_with_history(world: World) -> int:
    """Tenant "a" in New York, with a finished push (results saved at a known instant), rows held for approval and a
    schedule; returns the finished run's id."""
    with transaction(world.engine) as session:
        session.execute(update(Tenant).where(Tenant.slug == world.tenants["a"]).values(time_zone=ZONE))
        tenant = get_tenant(session, slug=world.tenants["a"])
        at = datetime(2026, 10, 2, 4, 30, tzinfo=UTC)  # 00:30 in New York: the local date differs from UTC's
        run = PushRun(
            tenant_id=tenant.id,
            target="connectwise",
            period="2026-09",
            started_by="admin@a.test",
            status="succeeded",
            started_at=at,
            finished_at=at,
        )
        session.add(run)
        session.flush()
        pk = session.scalars(select(Company.id).where(Company.tenant_id == tenant.id)).first()
        session.add(
            PushResult(
                run_id=run.id,
                tenant_id=tenant.id,
                company_pk=pk,
                outcome="succeeded",
                quantity_before=3,
                quantity_after=4,
            )
        )
        automation.set_schedule(
            session,
            tenant=tenant,
            target="connectwise",
            schedule=MonthlySchedule.parse(day="1", at="06:00", period="previous"),
            by="admin@a.test",
        )
        run_id = run.id
    held(world)
    return run_id


def test_every_page_shows_times_in_the_tenants_zone(app_client: TestClient, world: World) -> None:
    run_id = new_york_tenant_with_history(world)
    form_login(app_client, "admin@a.test")
    seen: dict[str, int] = {}
    for path in [*PAGES, f"/history/{run_id}", "/connectwise/billing?period=2026-09"]:
        response = app_client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        text = shown_text(response.text)
        assert times_not_in_zone(text) == [], path
        seen[path] = text.count(f" {ZONE}")
    # the pages that show instants do show them, in the zone (so the check above had something to check)
    assert seen["/integrations"] >= 1  # the next scheduled push, 2026-11-01 06:00 in New York
    assert seen["/history"] >= 1 and seen[f"/history/{run_id}"] >= 1
    assert seen["/approvals"] >= 1
    page = shown_text(app_client.get("/integrations").text)
    assert "2026-11-01 06:00 America/New_York" in page  # the schedule's local time, not 10:00 UTC
    assert "2026-10-02 00:30 America/New_York" in shown_text(app_client.get("/history").text)


def test_cli_times_are_in_the_tenants_zone(world: World, database_url: str) -> None:
    new_york_tenant_with_history(world)
    runner = CliRunner()
    outputs = {}
    for args in (
        ["history", "--tenant", world.tenants["a"]],
        ["schedule", "show", "--tenant", world.tenants["a"]],
        ["operator", "list", "--tenant", world.tenants["a"]],
    ):
        result = runner.invoke(cli, [*args, "--database-url", database_url], catch_exceptions=False)
        assert result.exit_code == 0, (args, result.output)
        assert times_not_in_zone(result.output) == [], (args, result.output)
        outputs[args[0]] = result.output
    assert "2026-10-02 00:30 America/New_York" in outputs["history"]
    assert "06:00 America/New_York" in outputs["schedule"]


def test_last_push_follows_the_period_on_screen(app_client: TestClient, world: World) -> None:
    new_york_tenant_with_history(world)  # one push, of 2026-09, finished 2026-10-02 00:30 in New York
    form_login(app_client, "admin@a.test")

    def last_push(period: str) -> str:
        page = app_client.get(f"/connectwise/billing?period={period}").text
        found = re.search(r'id="last-push"[^>]*>([^<]*)<', page)
        assert found, period
        return found.group(1).strip()

    assert last_push("2026-09") == "2026-10-02 00:30 America/New_York"
    assert last_push("2026-08") == "—"  # no push of that month, whatever other months had
