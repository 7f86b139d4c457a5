"""Clients that leave: a company archived during a period is pushed for it (0 once nobody is billable), then skipped."""

from __future__ import annotations

from datetime import UTC, datetime

from click.testing import CliRunner
from sqlalchemy import select

from seatsync.cli.main import cli
from seatsync.db.engine import transaction
from seatsync.db.models import Company, PushResult
from seatsync.domain.periods import BillingPeriod
from seatsync.push.connectwise import run_push
from seatsync.services.billing import count_billable
from seatsync.services.companies import archive_company
from tests.foundation.util import USERS_HEADER, csv_bytes, load, status
from tests.push.conftest import World

OCTOBER, NOVEMBER, DECEMBER = BillingPeriod(2026, 10), BillingPeriod(2026, 11), BillingPeriod(2026, 12)


def _counts(world: World, period: BillingPeriod) -> dict[str, int]:
    with transaction(world.engine) as session:
        return {c.company_id: c.billable_users for c in count_billable(session, tenant=world.tenant, period=period)}


def test_archived_company_is_counted_for_its_period_then_skipped(world: World) -> None:
    # c02's users leave on 2026-10-20; c03 leaves on 2026-11-03 with nobody billable in November
    load(
        world.engine,
        world.tenant,
        "users",
        csv_bytes(
            USERS_HEADER,
            [status(f"u03-{n}", "c03", "deleted", "2026-10-31T00:00:00Z") for n in range(3)],
        ),
    )
    with transaction(world.engine) as session:
        archive_company(session, tenant=world.tenant, company_id="c02", at=datetime(2026, 10, 20, tzinfo=UTC))
        archive_company(session, tenant=world.tenant, company_id="c03", at=datetime(2026, 11, 3, tzinfo=UTC))
    assert _counts(world, OCTOBER)["c02"] == 2
    assert "c03" in _counts(world, OCTOBER)
    november = _counts(world, NOVEMBER)
    assert "c02" not in november  # archived before November: skipped
    assert november["c03"] == 0  # archived during November: pushed, with 0
    assert "c03" not in _counts(world, DECEMBER)

    world.sandbox.set_quantity_by_hand(world.mapped["c03"].addition, 3)
    run_push(world.engine, tenant_id=world.tenant.id, period=NOVEMBER, client_factory=world.factory())
    assert world.quantity("c03") == 0  # it left: its item no longer bills anyone
    assert world.quantity("c02") == 0  # never pushed again after it left (its quantity is as it was)
    with transaction(world.engine) as session:
        pushed = dict(session.execute(select(PushResult.company_pk, PushResult.outcome)).all())
        ids = dict(session.execute(select(Company.company_id, Company.id)).all())
    assert pushed[ids["c03"]] == "succeeded"
    assert ids["c02"] not in pushed


def test_archive_from_the_cli(world: World, database_url: str) -> None:
    result = CliRunner().invoke(
        cli,
        ["company", "archive", "--tenant", world.tenant.slug, "--company", "c01", "--at", "2026-10-05T12:00:00Z",
         "--database-url", database_url],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "pushed for 2026-10, skipped from 2026-11 on" in result.output
    assert "c01" in _counts(world, OCTOBER)
    assert "c01" not in _counts(world, NOVEMBER)
