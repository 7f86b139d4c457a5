"""Rows waiting for approval: listed per run, rejected or approved (all or per company), superseded by a later
push; the schedule and threshold commands."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from seatsync.cli.main import cli
from seatsync.db.engine import transaction
from seatsync.db.models import Approval, Company, PushResult, PushRun
from seatsync.errors import Conflict, UserInputError
from seatsync.services import approvals
from seatsync.services.tenants import get_tenant
from tests.foundation.util import companies, make_tenant
from tests.notify.test_notifications import make_run


def held_run(engine: Engine, slug: str, rows: dict[str, tuple[float, float]]) -> int:
    """A run with ``{company_id: (before, proposed)}`` held for approval, and c3 pushed."""
    run_id = make_run(engine, slug, outcomes={"c3": ("succeeded", None)})
    with transaction(engine) as session:
        tenant = get_tenant(session, slug=slug)
        for company_id, (before, after) in rows.items():
            pk = session.scalar(
                select(Company.id).where(Company.tenant_id == tenant.id, Company.company_id == company_id)
            )
            assert pk is not None
            session.add(
                PushResult(
                    run_id=run_id,
                    tenant_id=tenant.id,
                    company_pk=pk,
                    outcome="awaiting",
                    quantity_before=before,
                    quantity_after=after,
                    reason="over the approval threshold (more than 20%)",
                )
            )
    return run_id


@pytest.fixture
def slug(engine: Engine) -> str:
    tenant = make_tenant(engine)
    companies(engine, tenant, "c1", "c2", "c3")
    return tenant.slug


def test_waiting_rows_reject_and_approve(engine: Engine, slug: str) -> None:
    run_id = held_run(engine, slug, {"c1": (10, 25), "c2": (40, 20)})
    with transaction(engine) as session:
        tenant = get_tenant(session, slug=slug)
        [waiting] = approvals.waiting_runs(session, tenant=tenant)
        assert waiting.run.id == run_id
        assert [(r.company_id, r.before, r.proposed, r.change.describe()) for r in waiting.rows] == [
            ("c1", 10, 25, "10 → 25 seats, +15 (+150%)"),
            ("c2", 40, 20, "40 → 20 seats, -20 (-50%)"),
        ]
        with pytest.raises(UserInputError, match="no row waiting for approval for company c3; waiting: c1, c2"):
            approvals.reject(session, tenant=tenant, run_id=run_id, company_ids=["c3"], by="admin@x")
        rejected = approvals.reject(session, tenant=tenant, run_id=run_id, company_ids=["c2"], by="admin@x")
        assert [r.company_id for r in rejected] == ["c2"]
        tenant_id = tenant.id

    sent: list[approvals.ApprovedRows] = []

    def sender(_engine: Engine, request: approvals.ApprovedRows) -> int:
        sent.append(request)
        return make_run(_engine, slug, outcomes={"c1": ("succeeded", None)})

    done = approvals.approve(engine, tenant_id=tenant_id, run_id=run_id, by="admin@x", send=sender)
    [request] = sent
    assert (request.target, request.period, request.held_run_id) == ("connectwise", "2026-10", run_id)
    assert [(r.company_id, r.proposed) for r in request.rows] == [("c1", 25)]
    with transaction(engine) as session:
        tenant = get_tenant(session, slug=slug)
        assert approvals.waiting_runs(session, tenant=tenant) == []
        decided = {
            (a.company_pk, a.decision, a.sent_run_id)
            for a in approvals.decisions(session, tenant=tenant, run_id=run_id)
        }
        assert {d[1:] for d in decided} == {("approved", done.run_id), ("rejected", None)}
        with pytest.raises(Conflict, match="has no rows waiting"):
            approvals.reject(session, tenant=tenant, run_id=run_id, by="admin@x")


def test_a_later_push_supersedes_waiting_rows(engine: Engine, slug: str) -> None:
    held_run(engine, slug, {"c1": (10, 25), "c2": (40, 20)})
    make_run(engine, slug, outcomes={"c1": ("succeeded", None)})  # a later push of the same period set c1
    with transaction(engine) as session:
        tenant = get_tenant(session, slug=slug)
        [waiting] = approvals.waiting_runs(session, tenant=tenant)
        assert [r.company_id for r in waiting.rows] == ["c2"]


def command_runner(database_url: str) -> Callable[..., str]:
    """``run(*args, code=0)``: the command's output, after checking its exit code."""
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(cli, [*args, "--database-url", database_url])
        assert result.exit_code == code, result.output
        return result.output

    return run


def test_cli_schedule_and_reject(database_url: str, engine: Engine) -> None:
    run = command_runner(database_url)
    tenant = make_tenant(engine, tz="America/Chicago")
    companies(engine, tenant, "c1", "c2", "c3")
    out = run(
        "schedule",
        "set",
        "connectwise",
        "--tenant",
        tenant.slug,
        "--day",
        "last",
        "--at",
        "18:30",
        "--period",
        "current",
        "--approve-above",
        "20",
        "--approve-above-seats",
        "5",
    )
    assert "connectwise: the last day of each month at 18:30, the current month (America/Chicago)" in out
    assert "approval: more than 20% or more than 5 seats" in out
    shown = run("schedule", "show", "--tenant", tenant.slug, "--format", "csv").splitlines()
    assert shown[0] == "target,day,at,period,next_push,approval,skip_invoiced"
    assert re.fullmatch(
        r"connectwise,last,18:30,current,\d{4}-\d{2}-\d{2} 18:30 America/Chicago,more than 20% or more than 5 seats,no",
        shown[1],
    )
    assert shown[2] == "autotask,off,,,,no threshold,no"
    assert shown[4].startswith("gradient,1,00:00,previous,")  # the default
    run("schedule", "off", "gradient", "--tenant", tenant.slug)
    assert (
        run("schedule", "show", "--tenant", tenant.slug, "--format", "csv").splitlines()[4]
        == "gradient,off,,,,no threshold,no"
    )
    bad = run(
        "schedule",
        "set",
        "halopsa",
        "--tenant",
        tenant.slug,
        "--day",
        "31",
        "--at",
        "00:00",
        "--period",
        "current",
        code=1,
    )
    assert "--day must be 1 to 28 or 'last'" in bad

    run_id = held_run(engine, tenant.slug, {"c1": (10, 25), "c2": (40, 20)})
    out = run("reject", str(run_id), "--tenant", tenant.slug, "--company", "c1")
    assert out == "rejected c1 Company C1: 10 → 25 seats, +15 (+150%)\n"
    out = run("reject", str(run_id), "--tenant", tenant.slug)
    assert out == "rejected c2 Company C2: 40 → 20 seats, -20 (-50%)\n"
    assert "has no rows waiting" in run("reject", str(run_id), "--tenant", tenant.slug, code=1)
    with transaction(engine) as session:
        assert len(list(session.scalars(select(Approval)))) == 2
        assert session.get(PushRun, run_id) is not None
