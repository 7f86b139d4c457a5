"""Through the one push engine and the scheduler: a scheduled push holds exactly the rows over the threshold and
sends the others; approving sends exactly those (planned again: a row changed since waits again); after every run
the hook sends the notifications (a webhook answering 500 is retried, the push still succeeds) and the tickets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select, update

from seatsync.automation import install
from seatsync.automation.approve import push_here
from seatsync.config import get_settings
from seatsync.db.engine import transaction
from seatsync.db.models import Integration, PushResult, PushRun, TargetAutomation
from seatsync.domain.monthly import MonthlySchedule
from seatsync.notify import WebhookFormat
from seatsync.push import scheduler
from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services import approvals, automation, notifications
from seatsync.services import connectwise_connection as cw
from seatsync.services.tenants import get_tenant
from tests.notify.conftest import Receiver
from tests.push.conftest import CLIENT_ID, World

LONG_AGO = datetime(2026, 10, 15, tzinfo=UTC)  # after October 1st's fire (the September push)
MONTH_END = datetime(2026, 11, 1, 0, 5, tzinfo=UTC)  # five minutes after the 1st's fire, in UTC


@pytest.fixture(autouse=True)
def _hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SEATSYNC_NOTIFICATION_RETRY_WAIT", "0.01")
    monkeypatch.setenv("SEATSYNC_PUBLIC_URL", "https://seatsync.msp.example")
    get_settings.cache_clear()
    install()
    yield
    get_settings.cache_clear()


@pytest.fixture
def scheduled(world: World, sandbox: ConnectWiseSandbox, server: BackgroundServer) -> World:
    """The world's tenant connected to the sandbox, pushed on the 1st at 00:00 (previous month), approval above
    50 %, the connection and the schedule dating from long ago. Quantities now: c01 1 (billable 1), c02 1 (2),
    c03 4 (3)."""
    for company_id, quantity in (("c01", 1), ("c02", 1), ("c03", 4)):
        sandbox.set_quantity_by_hand(world.mapped[company_id].addition, quantity)
    with transaction(world.engine) as session:
        tenant = get_tenant(session, slug=world.tenant.slug)
        result = cw.connect(
            session,
            tenant=tenant,
            site=server.url,
            company_id="demo",
            public_key="demo-public",
            private_key="demo-private",
            client_id=CLIENT_ID,
        )
        assert result.status.value == "connected"
        automation.set_schedule(
            session,
            tenant=tenant,
            target="connectwise",
            schedule=MonthlySchedule.parse(day=1, at="00:00", period="previous"),
            by="test",
        )
        automation.set_threshold(session, tenant=tenant, target="connectwise", percent=50, seats=None, by="test")
        automation.schedule_off(session, tenant=tenant, target="gradient", by="test")
    with transaction(world.engine) as session:
        session.execute(update(Integration).values(connected_at=LONG_AGO))
        session.execute(update(TargetAutomation).values(updated_at=LONG_AGO))
    return world


def results(engine: Engine, run_id: int) -> dict[int, tuple[str, float | None, float | None]]:
    with transaction(engine) as session:
        return {
            r.company_pk: (r.outcome, r.quantity_before, r.quantity_after)
            for r in session.scalars(select(PushResult).where(PushResult.run_id == run_id))
        }


def pk(world: World, company_id: str) -> int:
    from seatsync.db.models import Company

    with transaction(world.engine) as session:
        found = session.scalar(
            select(Company.id).where(Company.tenant_id == world.tenant.id, Company.company_id == company_id)
        )
        assert found is not None
        return found


def test_the_schedule_holds_the_rows_over_the_threshold_and_approving_sends_exactly_them(
    scheduled: World, webhook_receiver: Receiver
) -> None:
    world = scheduled
    with transaction(world.engine) as session:
        tenant = get_tenant(session, slug=world.tenant.slug)
        notifications.add_webhook(
            session,
            tenant=tenant,
            url=f"{webhook_receiver.url}/hooks/ops",
            fmt=WebhookFormat.SLACK,
            settings=get_settings(),
            created_by="test",
        )
    webhook_receiver.fail = {"ops": 2}  # the webhook is down twice: retried, and the push is not affected

    [run_id] = scheduler.run_due(world.engine, now=MONTH_END)
    assert scheduler.run_due(world.engine, now=MONTH_END) == []  # once per tenant, target and period
    found = results(world.engine, run_id)
    assert found[pk(world, "c02")] == ("awaiting", 1, 2)  # +100 %: held
    assert found[pk(world, "c03")] == ("succeeded", 4, 3)  # -25 %: sent
    assert found[pk(world, "c01")] == ("unchanged", 1, 1)
    assert (world.quantity("c02"), world.quantity("c03")) == (1, 3)
    with transaction(world.engine) as session:
        assert session.get(PushRun, run_id).status == "succeeded"  # type: ignore[union-attr]
        tenant = get_tenant(session, slug=world.tenant.slug)
        [waiting] = approvals.waiting_runs(session, tenant=tenant)
        assert [(r.company_id, r.before, r.proposed) for r in waiting.rows] == [("c02", 1, 2)]

    # one message for the held rows, after two 500s
    assert webhook_receiver.tries["ops"] == 3
    [message] = webhook_receiver.received["ops"]
    assert "1 row of the ConnectWise push of 2026-10 waits for approval" in message["text"]
    assert "1 → 2 seats, +1 (+100%)" in message["blocks"][2]["text"]["text"]

    done = approvals.approve(
        world.engine, tenant_id=world.tenant.id, run_id=run_id, by="admin@msp.example", send=push_here(get_settings())
    )
    assert done.run_id is not None
    assert results(world.engine, done.run_id) == {pk(world, "c02"): ("succeeded", 1, 2)}  # exactly that row
    assert (world.quantity("c01"), world.quantity("c02"), world.quantity("c03")) == (1, 2, 3)
    with transaction(world.engine) as session:
        run = session.get(PushRun, done.run_id)
        assert run is not None and run.started_by == f"admin@msp.example (approval of run {run_id})"
        assert approvals.waiting_runs(session, tenant=get_tenant(session, slug=world.tenant.slug)) == []
        [decision] = approvals.decisions(session, tenant=get_tenant(session, slug=world.tenant.slug), run_id=run_id)
        assert (decision.decision, decision.sent_run_id) == ("approved", done.run_id)


def test_a_row_changed_since_it_was_held_waits_again(scheduled: World, sandbox: ConnectWiseSandbox) -> None:
    world = scheduled
    [run_id] = scheduler.run_due(world.engine, now=MONTH_END)
    sandbox.set_quantity_by_hand(world.mapped["c02"].addition, 7)  # someone edited ConnectWise in between
    done = approvals.approve(
        world.engine, tenant_id=world.tenant.id, run_id=run_id, by="admin@msp.example", send=push_here(get_settings())
    )
    assert done.run_id is not None
    [(outcome, before, after)] = results(world.engine, done.run_id).values()
    assert (outcome, before, after) == ("awaiting", 7, 2)
    assert world.quantity("c02") == 7  # nothing sent
    with transaction(world.engine) as session:
        reason = session.scalar(select(PushResult.reason).where(PushResult.run_id == done.run_id))
        assert reason is not None and "changed since it was approved (was 1 → 2 seats" in reason
        [waiting] = approvals.waiting_runs(session, tenant=get_tenant(session, slug=world.tenant.slug))
        assert waiting.run.id == done.run_id


def test_a_push_by_hand_holds_the_rows_over_the_threshold_unless_its_operator_confirmed_them(
    scheduled: World,
) -> None:
    from seatsync.domain.periods import BillingPeriod
    from seatsync.push import engine as push_engine
    from seatsync.targets.base import PushOptions

    world = scheduled

    def by_hand(**options: bool) -> int:
        return push_engine.push(
            world.engine,
            tenant_id=world.tenant.id,
            target="connectwise",
            options=PushOptions(BillingPeriod(2026, 10), started_by="ops@msp.example", **options),
        )

    held = by_hand()
    found = results(world.engine, held)
    assert found[pk(world, "c02")] == ("awaiting", 1, 2)  # +100 %: not sent without a confirmation
    assert found[pk(world, "c03")] == ("succeeded", 4, 3)
    assert world.quantity("c02") == 1
    with transaction(world.engine) as session:
        reason = session.scalar(
            select(PushResult.reason).where(PushResult.run_id == held, PushResult.company_pk == pk(world, "c02"))
        )
        assert reason is not None and "not sent without a confirmation" in reason
        [waiting] = approvals.waiting_runs(session, tenant=get_tenant(session, slug=world.tenant.slug))
        assert waiting.run.id == held  # on Approvals, like a scheduled push's

    confirmed = by_hand(approve_over_threshold=True)
    assert results(world.engine, confirmed)[pk(world, "c02")] == ("succeeded", 1, 2)
    assert world.quantity("c02") == 2
    with transaction(world.engine) as session:
        run = session.get(PushRun, confirmed)
        assert run is not None and run.approved_over_threshold
        assert approvals.waiting_runs(session, tenant=get_tenant(session, slug=world.tenant.slug)) == []

    # a dry run says what it would do, gate or not
    dry = by_hand(dry_run=True)
    assert {o for o, _, _ in results(world.engine, dry).values()} <= {"planned", "unchanged", "not_mapped"}


def test_a_missed_schedule_catches_up_once_and_says_so(
    scheduled: World, smtp_server: tuple[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, mailbox = smtp_server
    monkeypatch.setenv("SEATSYNC_SMTP_URL", url)
    get_settings.cache_clear()
    world = scheduled
    with transaction(world.engine) as session:
        tenant = get_tenant(session, slug=world.tenant.slug)
        automation.set_threshold(session, tenant=tenant, target="connectwise", percent=None, seats=None, by="test")
        notifications.add_email(session, tenant=tenant, to="ops@msp.example", created_by="test")
        session.execute(update(TargetAutomation).values(updated_at=LONG_AGO))
    # seatsync was down from before the 1st until the 3rd
    late = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    [run_id] = scheduler.run_due(world.engine, now=late)
    assert scheduler.run_due(world.engine, now=late) == []
    with transaction(world.engine) as session:
        run = session.get(PushRun, run_id)
        assert run is not None and (run.period, run.started_by, run.status) == ("2026-10", "schedule", "succeeded")
    subjects = [m["Subject"].strip() for m in mailbox.messages]  # type: ignore[attr-defined]
    assert subjects == ["[seatsync] acme-msp: the scheduled ConnectWise push of 2026-10 was missed"]


def test_the_cli_push_shows_the_rows_over_the_threshold_and_asks(
    scheduled: World, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``seatsync push``: without a terminal (a script) the rows over the threshold wait and the command says
    how to send them; on a terminal they are shown highlighted and the operator is asked; the flag confirms."""
    from click.testing import CliRunner

    from seatsync.cli import push as cli_push
    from seatsync.cli.main import cli

    world = scheduled
    slug = world.tenant.slug
    args = ["push", "connectwise", "--tenant", slug, "--period", "2026-10", "--database-url", database_url]
    runner = CliRunner()

    scripted = runner.invoke(cli, args)
    assert scripted.exit_code == 1, scripted.output
    assert "awaiting" in scripted.output and world.quantity("c02") == 1
    with transaction(world.engine) as session:
        held = session.scalar(select(PushRun.id).order_by(PushRun.id.desc()))
    assert (
        f"1 row over the approval threshold waits for approval (c02): approve with `seatsync approve {held} "
        f"--tenant {slug}` (or on Approvals), or push again with --approve-over-threshold" in scripted.output
    )

    monkeypatch.setattr(cli_push, "interactive", lambda: True)
    declined = runner.invoke(cli, args, input="n\n")
    assert declined.exit_code == 1, declined.output
    question, _, after = declined.output.partition("Send them too?")
    assert "company_id  company" in question and "before  proposed  change  percent" in question
    [line] = [x for x in question.splitlines() if x.startswith("c02")]
    assert line.split()[-4:] == ["1", "2", "+1", "+100%"]
    assert "1 row changes by more than 50% (the approval threshold)." in question
    assert "waits for approval (c02)" in after and world.quantity("c02") == 1

    accepted = runner.invoke(cli, args, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "Send them too?" in accepted.output and world.quantity("c02") == 2
    assert "waits for approval" not in accepted.output

    # a script confirms with the flag (nothing is asked); the hand edit is replaced with --force
    world.sandbox.set_quantity_by_hand(world.mapped["c02"].addition, 1)
    monkeypatch.setattr(cli_push, "interactive", lambda: False)
    flagged = runner.invoke(cli, [*args, "--approve-over-threshold", "--force"])
    assert flagged.exit_code == 0, flagged.output
    assert "Send them too?" not in flagged.output and world.quantity("c02") == 2
