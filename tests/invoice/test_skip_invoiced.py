"""Invoice timing: a push can skip the rows whose period the agreement has already invoiced. The skipped row is
recorded (outcome skipped, with the invoice it would have reached), nothing is sent for it, and the run remembers
the option; targets that cannot tell which periods are invoiced refuse it instead of dropping it."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from seatsync.cli.main import cli
from seatsync.db.engine import transaction
from seatsync.db.models import PushResult, PushRun
from seatsync.domain.periods import BillingPeriod
from seatsync.errors import UnsupportedOption
from seatsync.push import engine as push_engine
from seatsync.push import runs
from seatsync.push.connectwise import run_push
from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from seatsync.targets.base import PushOptions
from seatsync.targets.registry import get_target
from tests.push.conftest import World
from tests.push.test_cli import connect

OCTOBER = BillingPeriod(2026, 10)


def _invoiced(world: World, company_id: str = "c01") -> None:
    """c01's agreement is next invoiced on 1 December (October's invoice was generated already); the others' on
    1 October (October's invoice is still to come). Set here: the sandbox's default follows the wall clock."""
    for cid, mapped in world.mapped.items():
        when = "2026-12-01T00:00:00Z" if cid == company_id else "2026-10-01T00:00:00Z"
        world.sandbox.agreements[mapped.agreement].update(nextInvoiceDate=when, prorateFlag=False)


def _remote(sandbox: ConnectWiseSandbox, world: World, company_id: str) -> dict[str, Any]:
    mapped = world.mapped[company_id]
    return {
        "addition": dict(sandbox.additions[mapped.addition]),
        "documents": [d.info for d in sandbox.documents.values() if d.record_id == mapped.agreement],
        "changes": [c for c in sandbox.changes if c.addition_id == mapped.addition],
    }


def _results(world: World, run_id: int) -> dict[str, PushResult]:
    with transaction(world.engine) as session:
        return {r.company_id: r.result for r in runs.run_results(session, tenant_id=world.tenant.id, run_id=run_id)}


def test_an_invoiced_row_is_skipped_and_nothing_is_sent_for_it(world: World) -> None:
    _invoiced(world)
    before = _remote(world.sandbox, world, "c01")
    run_id = run_push(
        world.engine, tenant_id=world.tenant.id, period=OCTOBER, client_factory=world.factory(), skip_invoiced=True
    )
    results = _results(world, run_id)
    skipped = results["c01"]
    assert skipped.outcome == "skipped"
    assert skipped.reason is not None and skipped.reason.startswith("skipped (skip invoiced): period already invoiced")
    assert "2026-12-01" in skipped.reason
    assert skipped.document_id is None
    assert _remote(world.sandbox, world, "c01") == before  # the sandbox is unchanged for it
    assert world.requests("PATCH", f"/additions/{world.mapped['c01'].addition}") == 0
    # the others are pushed as usual
    assert results["c02"].outcome == "succeeded" and world.quantity("c02") == 2
    with transaction(world.engine) as session:
        run = session.get(PushRun, run_id)
        assert run is not None and run.skip_invoiced and run.skipped == 1
        assert push_engine.options_of(run).skip_invoiced  # a run carried on after a crash keeps it
    # without the option the same row is pushed (its change lands on the next invoice, as the preview said)
    again = run_push(world.engine, tenant_id=world.tenant.id, period=OCTOBER, client_factory=world.factory())
    assert _results(world, again)["c01"].outcome == "succeeded" and world.quantity("c01") == 1


def test_a_dry_run_with_the_option_plans_the_skip(world: World) -> None:
    _invoiced(world)
    run_id = run_push(
        world.engine,
        tenant_id=world.tenant.id,
        period=OCTOBER,
        client_factory=world.factory(),
        skip_invoiced=True,
        dry_run=True,
    )
    results = _results(world, run_id)
    assert results["c01"].outcome == "skipped" and results["c02"].outcome == "planned"
    assert world.requests("PATCH", "/") == 0 and world.requests("POST", "/") == 0


@pytest.mark.parametrize("target", ["autotask", "halopsa", "gradient"])
def test_targets_that_cannot_tell_refuse_the_option(target: str) -> None:
    chosen = get_target(target)
    chosen.check_options(PushOptions(OCTOBER))  # without it: fine
    with pytest.raises(UnsupportedOption, match=f"a push to {target} cannot honour skip invoiced"):
        chosen.check_options(PushOptions(OCTOBER, skip_invoiced=True))


def test_the_cli_skips_invoiced_rows(world: World, database_url: str) -> None:
    connect(world)
    _invoiced(world)
    before = _remote(world.sandbox, world, "c01")
    slug = world.tenant.slug
    plan = CliRunner().invoke(
        cli,
        ["push", "connectwise", "--tenant", slug, "--period", "2026-10", "--dry-run", "--skip-invoiced",
         "--database-url", database_url],
    )  # fmt: skip
    assert plan.exit_code == 0, plan.output
    line = next(x for x in plan.output.splitlines() if x.startswith("c01"))
    assert "skip (invoiced)" in line and "period already invoiced" in line
    pushed = CliRunner().invoke(
        cli,
        ["push", "connectwise", "--tenant", slug, "--period", "2026-10", "--skip-invoiced",
         "--database-url", database_url],
    )  # fmt: skip
    assert pushed.exit_code == 0, pushed.output
    line = next(x for x in pushed.output.splitlines() if x.startswith("c01"))
    assert "skipped" in line and "skip invoiced" in line
    assert _remote(world.sandbox, world, "c01") == before
    with transaction(world.engine) as session:
        flags = session.scalars(select(PushRun.skip_invoiced).where(PushRun.tenant_id == world.tenant.id)).all()
        assert flags == [True]


def test_the_cli_of_another_target_refuses_the_option(world: World, database_url: str) -> None:
    for target in ("autotask", "halopsa", "gradient"):
        result = CliRunner().invoke(
            cli,
            ["push", target, "--tenant", world.tenant.slug, "--period", "2026-10", "--skip-invoiced",
             "--database-url", database_url],
        )  # fmt: skip
        assert result.exit_code == 1, result.output
        assert f"a push to {target} cannot honour skip invoiced" in result.output
    with transaction(world.engine) as session:
        assert session.scalars(select(PushRun).where(PushRun.tenant_id == world.tenant.id)).all() == []
