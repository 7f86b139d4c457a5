"""A schedule may push with ``skip_invoiced`` (``schedule set --skip-invoiced``): the scheduled run leaves out the
rows whose period ConnectWise has already invoiced, as a push by hand with the option does; a target that cannot
tell which periods are invoiced refuses it, naming itself, and keeps the schedule it had."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, update

from seatsync.db.engine import transaction
from seatsync.db.models import PushResult, PushRun, TargetAutomation
from seatsync.domain.monthly import MonthlySchedule
from seatsync.errors import UnsupportedOption
from seatsync.push import scheduler
from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from seatsync.services import automation
from seatsync.services.tenants import get_tenant
from tests.automation.test_approvals import command_runner
from tests.automation.test_gate_and_hooks import LONG_AGO, MONTH_END, pk, results, scheduled
from tests.foundation.util import make_tenant
from tests.push.conftest import World

__all__ = ["scheduled"]  # the fixture, used here


@pytest.mark.parametrize("skip", [True, False], ids=["skip-invoiced", "plain"])
def test_a_scheduled_push_with_skip_invoiced_leaves_out_the_invoiced_rows(
    scheduled: World, sandbox: ConnectWiseSandbox, skip: bool
) -> None:
    """October is pushed on November 1st; c03's agreement was invoiced for October (its next invoice is November's),
    c01's and c02's were not. Quantities before: c01 1 (billable 1), c02 1 (2), c03 4 (3)."""
    world = scheduled
    for company_id, invoice in (("c01", "2026-10-01"), ("c02", "2026-10-01"), ("c03", "2026-11-01")):
        sandbox.agreements[world.mapped[company_id].agreement]["nextInvoiceDate"] = f"{invoice}T00:00:00Z"
    with transaction(world.engine) as session:
        tenant = get_tenant(session, slug=world.tenant.slug)
        first = MonthlySchedule.parse(day=1, at="00:00", period="previous")
        automation.set_schedule(
            session, tenant=tenant, target="connectwise", schedule=first, by="t", skip_invoiced=skip
        )
        automation.set_threshold(session, tenant=tenant, target="connectwise", percent=None, seats=None, by="test")
    with transaction(world.engine) as session:
        session.execute(update(TargetAutomation).values(updated_at=LONG_AGO))

    [run_id] = scheduler.run_due(world.engine, now=MONTH_END)
    found = results(world.engine, run_id)
    assert found[pk(world, "c01")] == ("unchanged", 1, 1)
    assert found[pk(world, "c02")] == ("succeeded", 1, 2)
    with transaction(world.engine) as session:
        run = session.get(PushRun, run_id)
        assert run is not None and (run.started_by, run.period, run.skip_invoiced) == ("schedule", "2026-10", skip)
        c03 = session.query(PushResult).filter_by(run_id=run_id, company_pk=pk(world, "c03")).one()
    if skip:
        assert (c03.outcome, world.quantity("c03")) == ("skipped", 4)  # nothing sent for the invoiced period
        assert c03.reason is not None and "period already invoiced" in c03.reason
        assert world.documents("c03") == []
    else:
        assert (c03.outcome, world.quantity("c03")) == ("succeeded", 3)


@pytest.mark.parametrize("target", ["autotask", "halopsa", "gradient"])
def test_a_target_that_cannot_tell_refuses_it_and_keeps_its_schedule(engine: Engine, target: str) -> None:
    tenant = make_tenant(engine)
    kept = MonthlySchedule.parse(day=5, at="06:00", period="previous")
    with transaction(engine) as session:
        automation.set_schedule(session, tenant=tenant, target=target, schedule=kept, by="test")
    refused = pytest.raises(UnsupportedOption, match=f"a push to {target} cannot honour skip invoiced")
    with refused, transaction(engine) as session:
        automation.set_schedule(
            session,
            tenant=tenant,
            target=target,
            schedule=MonthlySchedule.parse(day=1, at="00:00", period="current"),
            by="test",
            skip_invoiced=True,
        )
    with transaction(engine) as session:
        [plan] = [p for p in automation.overview(session, tenant=tenant, now=MONTH_END) if p.target == target]
        assert (plan.schedule, plan.skip_invoiced) == (kept, False)
    assert [t for t in automation.TARGETS if automation.skips_invoiced(t)] == ["connectwise"]


def test_cli_schedule_set_skip_invoiced(database_url: str, engine: Engine) -> None:
    run = command_runner(database_url)
    tenant = make_tenant(engine, tz="America/Chicago")
    when = ("--day", "3", "--at", "07:00", "--period", "previous")
    out = run("schedule", "set", "connectwise", "--tenant", tenant.slug, *when, "--skip-invoiced")
    assert out.startswith(
        "connectwise: day 3 of each month at 07:00, the previous month (America/Chicago), "
        "skipping rows whose period is already invoiced\n"
    )
    shown = run("schedule", "show", "--tenant", tenant.slug, "--format", "csv").splitlines()
    assert shown[0] == "target,day,at,period,next_push,approval,skip_invoiced"
    assert shown[1].startswith("connectwise,3,07:00,previous,") and shown[1].endswith(",no threshold,yes")
    assert shown[4].endswith(",no")  # gradient's default schedule: every row
    table = run("schedule", "show", "--tenant", tenant.slug)
    assert "skip_invoiced" in table.splitlines()[0]
    listed = json.loads(run("schedule", "show", "--tenant", tenant.slug, "--format", "json"))
    [cw] = [r for r in listed if r["target"] == "connectwise"]
    assert cw["skip_invoiced"] is True

    refused = run("schedule", "set", "autotask", "--tenant", tenant.slug, *when, "--skip-invoiced", code=1)
    assert "a push to autotask cannot honour skip invoiced" in refused
    assert run("schedule", "show", "--tenant", tenant.slug, "--format", "csv").splitlines()[2] == (
        "autotask,off,,,,no threshold,no"
    )  # nothing of the refused command was kept

    run("schedule", "set", "connectwise", "--tenant", tenant.slug, *when)  # set again without it: off
    assert run("schedule", "show", "--tenant", tenant.slug, "--format", "csv").splitlines()[1].endswith(",no")
