"""Notifications: one mail per event through a real SMTP server, Slack and Teams shapes at a real webhook
receiver, retries with back-off, deliveries recorded, and a failing channel that fails nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from pydantic import SecretStr
from sqlalchemy import Engine, select

from seatsync.cli.main import cli
from seatsync.config import Settings
from seatsync.db.engine import transaction
from seatsync.db.models import Company, Integration, NotificationChannel, NotificationDelivery, PushResult, PushRun
from seatsync.errors import UserInputError
from seatsync.notify import CompanyLine, Deliverer, Event, EventKind, RetryPolicy, WebhookFormat, redact_url
from seatsync.services import notifications
from seatsync.services.tenants import get_tenant
from tests.foundation.util import companies, make_tenant
from tests.notify.conftest import Mailbox, Receiver

LINK_BASE = "https://seatsync.msp.example"


def settings_for(smtp_url: str | None = None) -> Settings:
    return Settings(
        smtp_url=SecretStr(smtp_url) if smtp_url else None, public_url=LINK_BASE, mail_from="seatsync@msp.example"
    )


def make_run(
    engine: Engine, slug: str, *, outcomes: dict[str, tuple[str, str | None]], target: str = "connectwise"
) -> int:
    """A finished run with one result per company: ``{company_id: (outcome, reason)}``."""
    with transaction(engine) as session:
        tenant = get_tenant(session, slug=slug)
        now = datetime(2026, 11, 1, 0, 5, tzinfo=UTC)
        bad = any(o in ("failed", "blocked") for o, _ in outcomes.values())
        run = PushRun(
            tenant_id=tenant.id,
            target=target,
            period="2026-10",
            started_by="schedule",
            started_at=now,
            finished_at=now,
            status="partial" if bad else "succeeded",
        )
        session.add(run)
        session.flush()
        for company_id, (outcome, reason) in outcomes.items():
            pk = session.scalar(
                select(Company.id).where(Company.tenant_id == tenant.id, Company.company_id == company_id)
            )
            assert pk is not None
            session.add(PushResult(run_id=run.id, tenant_id=tenant.id, company_pk=pk, outcome=outcome, reason=reason))
        return run.id


def quick(**kw: object) -> Deliverer:
    """A deliverer that records the back-off waits instead of sleeping them."""
    waits: list[float] = []
    smtp = kw.pop("smtp_url", None)
    deliverer = Deliverer(smtp_url=smtp, mail_from="seatsync@msp.example", sleep=waits.append, **kw)  # type: ignore[arg-type]
    deliverer.waits = waits  # type: ignore[attr-defined]
    return deliverer


@pytest.fixture
def slug(engine: Engine) -> str:
    tenant = make_tenant(engine)
    companies(engine, tenant, "c1", "c2", "c3")
    return tenant.slug


def add_email(engine: Engine, slug: str, to: str) -> None:
    with transaction(engine) as session:
        notifications.add_email(session, tenant=get_tenant(session, slug=slug), to=to, created_by="test")


def add_webhook(engine: Engine, slug: str, url: str, fmt: WebhookFormat) -> None:
    with transaction(engine) as session:
        notifications.add_webhook(
            session, tenant=get_tenant(session, slug=slug), url=url, fmt=fmt, settings=settings_for(), created_by="test"
        )


def deliveries(engine: Engine) -> list[NotificationDelivery]:
    with transaction(engine) as session:
        rows = list(session.scalars(select(NotificationDelivery).order_by(NotificationDelivery.id)))
        session.expunge_all()
        return rows


def test_one_mail_per_event(engine: Engine, slug: str, smtp_server: tuple[str, Mailbox]) -> None:
    url, mailbox = smtp_server
    settings = settings_for(url)
    add_email(engine, slug, "billing@msp.example")
    run_id = make_run(
        engine,
        slug,
        outcomes={
            "c1": ("failed", "ConnectWise refused the quantity: the addition is cancelled"),
            "c2": ("blocked", "the period was already invoiced"),
            "c3": ("succeeded", None),
        },
    )
    with quick(smtp_url=url) as sender:
        notifications.notify_run_finished(engine, settings=settings, run_id=run_id, deliverer=sender)
        # the same run finishing twice (a retried job) is told once
        notifications.notify_run_finished(engine, settings=settings, run_id=run_id, deliverer=sender)
    assert len(mailbox.messages) == 1
    mail = mailbox.messages[0]
    assert mail["To"] == "billing@msp.example"
    assert mail["From"] == "seatsync@msp.example"
    assert "ConnectWise push of 2026-10 finished with 1 failed and 1 blocked" in mail["Subject"]
    body = mail.get_content()
    assert f"{LINK_BASE}/history/{run_id}" in body
    assert "Company C1 (c1): failed: ConnectWise refused the quantity" in body
    assert "Company C2 (c2): blocked: the period was already invoiced" in body
    assert "c3" not in body.split("Companies:")[1].split("Open:")[0]

    # the other three kinds, one mail each
    with transaction(engine) as session:
        tenant = get_tenant(session, slug=slug)
        broken = notifications.connection_broken_event(
            tenant=tenant,
            target="connectwise",
            reason="ConnectWise refused the API keys (401).",
            settings=settings,
            since=datetime(2026, 11, 1, tzinfo=UTC),
        )
        tenant_id = tenant.id
    others = [
        broken,
        Event(
            kind=EventKind.AWAITING_APPROVAL,
            tenant=slug,
            title="2 rows of the ConnectWise push of 2026-10 wait for approval",
            advice="Approve or reject them on the Approvals page.",
            key=f"run:{run_id}:approval",
            run_id=run_id,
            link=f"{LINK_BASE}/approvals",
            companies=(CompanyLine("c1", "Company C1", "10 → 25 seats (+150%)"),),
        ),
        Event(
            kind=EventKind.SCHEDULE_MISSED,
            tenant=slug,
            title="the scheduled Gradient push of 2026-10 was missed",
            advice="It runs now, once, to catch up.",
            key="missed:gradient:2026-10",
        ),
    ]
    with quick(smtp_url=url) as sender:
        for event in others:
            notifications.deliver(engine, settings=settings, tenant_id=tenant_id, event=event, deliverer=sender)
            notifications.deliver(engine, settings=settings, tenant_id=tenant_id, event=event, deliverer=sender)
    assert [m["Subject"].strip() for m in mailbox.messages[1:]] == [e.subject for e in others]
    recorded = deliveries(engine)
    assert [(d.event, d.status, d.attempts) for d in recorded] == [
        ("run_problems", "sent", 1),
        ("connection_broken", "sent", 1),
        ("awaiting_approval", "sent", 1),
        ("schedule_missed", "sent", 1),
    ]
    assert recorded[0].run_id == run_id


def test_a_run_without_problems_tells_nobody(engine: Engine, slug: str, smtp_server: tuple[str, Mailbox]) -> None:
    url, mailbox = smtp_server
    add_email(engine, slug, "billing@msp.example")
    run_id = make_run(engine, slug, outcomes={"c1": ("succeeded", None), "c2": ("unchanged", None)})
    with quick(smtp_url=url) as sender:
        assert (
            notifications.notify_run_finished(engine, settings=settings_for(url), run_id=run_id, deliverer=sender) == []
        )
    assert mailbox.messages == []


def test_broken_connection_is_told(engine: Engine, slug: str, smtp_server: tuple[str, Mailbox]) -> None:
    url, mailbox = smtp_server
    add_email(engine, slug, "billing@msp.example")
    with transaction(engine) as session:
        tenant = get_tenant(session, slug=slug)
        session.add(
            Integration(
                tenant_id=tenant.id,
                kind="connectwise",
                status="broken",
                status_reason="ConnectWise refused the API keys (401).",
                checked_at=datetime(2026, 11, 1, tzinfo=UTC),
            )
        )
    with transaction(engine) as session:
        run = PushRun(
            tenant_id=tenant.id,
            target="connectwise",
            period="2026-10",
            started_by="schedule",
            status="failed",
            status_reason="ConnectWise refused the API keys (401).",
        )
        session.add(run)
        session.flush()
        run_id = run.id
    with quick(smtp_url=url) as sender:
        notifications.notify_run_finished(engine, settings=settings_for(url), run_id=run_id, deliverer=sender)
    subjects = sorted(m["Subject"] for m in mailbox.messages)
    assert len(subjects) == 2
    assert "the ConnectWise connection is broken" in subjects[1]
    assert "ConnectWise push of 2026-10 failed" in subjects[0]


def test_slack_and_teams_shapes(engine: Engine, slug: str, webhook_receiver: Receiver) -> None:
    base = webhook_receiver.url
    add_webhook(engine, slug, f"{base}/hooks/slack", WebhookFormat.SLACK)
    add_webhook(engine, slug, f"{base}/hooks/teams", WebhookFormat.TEAMS)
    add_webhook(engine, slug, f"{base}/hooks/json", WebhookFormat.JSON)
    run_id = make_run(
        engine, slug, outcomes={"c1": ("failed", "the addition <b> & co is cancelled"), "c2": ("succeeded", None)}
    )
    with quick() as sender:
        notifications.notify_run_finished(engine, settings=settings_for(), run_id=run_id, deliverer=sender)
    link = f"{LINK_BASE}/history/{run_id}"

    [slack] = webhook_receiver.received["slack"]
    assert "ConnectWise push of 2026-10 finished with 1 failed" in slack["text"]
    kinds = [b["type"] for b in slack["blocks"]]
    assert kinds == ["section", "section", "section", "actions"]
    assert all(b["text"]["type"] == "mrkdwn" for b in slack["blocks"][:3])
    assert "the addition &lt;b&gt; &amp; co is cancelled" in slack["blocks"][2]["text"]["text"]
    assert slack["blocks"][3]["elements"][0]["url"] == link

    [teams] = webhook_receiver.received["teams"]
    assert teams["type"] == "message"
    [attachment] = teams["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["body"][0]["type"] == "TextBlock"
    assert card["body"][2]["facts"] == [
        {"title": "Company C1 (c1)", "value": "failed: the addition <b> & co is cancelled"}
    ]
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open in seatsync", "url": link}]

    [generic] = webhook_receiver.received["json"]
    assert generic["event"] == "run_problems"
    assert generic["run_id"] == run_id
    assert generic["link"] == link
    assert generic["companies"] == [
        {"company_id": "c1", "name": "Company C1", "detail": "failed: the addition <b> & co is cancelled"}
    ]


def test_a_webhook_answering_500_is_retried_with_back_off(
    engine: Engine, slug: str, webhook_receiver: Receiver
) -> None:
    base = webhook_receiver.url
    add_webhook(engine, slug, f"{base}/hooks/flaky", WebhookFormat.JSON)
    add_webhook(engine, slug, f"{base}/hooks/down", WebhookFormat.SLACK)
    webhook_receiver.fail = {"flaky": 2, "down": 100}
    run_id = make_run(engine, slug, outcomes={"c1": ("failed", "refused")})
    with quick(policy=RetryPolicy(attempts=4, first_wait=2, longest=30)) as sender:
        made = notifications.notify_run_finished(engine, settings=settings_for(), run_id=run_id, deliverer=sender)
        waits = sender.waits  # type: ignore[attr-defined]
    assert len(made) == 2
    assert webhook_receiver.tries == {"flaky": 3, "down": 4}
    assert len(webhook_receiver.received["flaky"]) == 1
    assert waits == [2, 4, 2, 4, 8]  # exponential, per delivery
    by_channel = {d.channel.split(" ")[1]: d for d in deliveries(engine)}
    assert (by_channel["(json)"].status, by_channel["(json)"].attempts) == ("sent", 3)
    down = by_channel["(slack)"]
    assert (down.status, down.attempts) == ("failed", 4)
    assert "answered 500" in (down.error or "")
    with transaction(engine) as session:  # the run is as it ended
        assert session.get(PushRun, run_id).status == "partial"  # type: ignore[union-attr]


def test_a_refused_webhook_is_not_retried(engine: Engine, slug: str) -> None:
    import httpx

    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(404, text="no such hook")

    add_webhook(engine, slug, "https://hooks.example.test/services/T000/B000/XXXX", WebhookFormat.SLACK)
    run_id = make_run(engine, slug, outcomes={"c1": ("failed", "refused")})
    with quick(transport=httpx.MockTransport(handler)) as sender:
        notifications.notify_run_finished(engine, settings=settings_for(), run_id=run_id, deliverer=sender)
    assert calls == ["https://hooks.example.test/services/T000/B000/XXXX"]
    [row] = deliveries(engine)
    assert row.status == "failed"
    assert row.attempts == 1
    assert "refused the message (404: no such hook)" in (row.error or "")
    assert "XXXX" in row.channel and "T000" not in row.channel  # the secret part of the URL is not shown


def test_mail_without_a_server_is_recorded_as_failed(engine: Engine, slug: str) -> None:
    add_email(engine, slug, "billing@msp.example")
    run_id = make_run(engine, slug, outcomes={"c1": ("failed", "refused")})
    notifications.notify_run_finished(engine, settings=settings_for(None), run_id=run_id)
    [row] = deliveries(engine)
    assert row.status == "failed"
    assert "SEATSYNC_SMTP_URL" in (row.error or "")


def test_webhook_url_is_kept_encrypted(engine: Engine, slug: str) -> None:
    secret_url = "https://hooks.slack.com/services/T123/B456/abcdefsecret"
    add_webhook(engine, slug, secret_url, WebhookFormat.SLACK)
    with transaction(engine) as session:
        [channel] = session.scalars(select(NotificationChannel))
        assert channel.address == redact_url(secret_url) == "https://hooks.slack.com/…cret"
        assert channel.secret is not None and b"abcdefsecret" not in channel.secret


@pytest.mark.parametrize(
    ("url", "words"),
    [("ftp://x.example/hook", "http:// or https://"), ("https:///nohost", "host name"), ("not a url", "http://")],
)
def test_bad_webhook_url(engine: Engine, slug: str, url: str, words: str) -> None:
    with pytest.raises(UserInputError, match=words):
        add_webhook(engine, slug, url, WebhookFormat.JSON)


def test_cli_add_list_remove(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, [*args, "--database-url", database_url], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    slug = run("tenant", "create", "Notify MSP").strip()
    assert "channel 1: email ops@msp.example" in run(
        "notify", "add", "email", "--tenant", slug, "--to", "ops@msp.example"
    )
    out = run(
        "notify",
        "add",
        "webhook",
        "--tenant",
        slug,
        "--url",
        "https://hooks.slack.com/services/T1/B2/zzzsecret",
        "--format",
        "slack",
    )
    assert "webhook (slack) https://hooks.slack.com/…cret" in out
    listed = run("notify", "list", "--tenant", slug, "--format", "csv")
    assert listed.splitlines() == [
        "id,kind,format,address",
        "1,email,,ops@msp.example",
        "2,webhook,slack,https://hooks.slack.com/…cret",
    ]
    assert "zzzsecret" not in listed
    run("notify", "remove", "1", "--tenant", slug)
    assert "ops@msp.example" not in run("notify", "list", "--tenant", slug)
    bad = runner.invoke(
        cli, ["notify", "add", "email", "--tenant", slug, "--to", "nobody", "--database-url", database_url]
    )
    assert bad.exit_code == 1
    assert "'nobody' is not an e-mail address" in bad.output
    assert run("notify", "list", "--tenant", slug, "--deliveries").startswith("id")
