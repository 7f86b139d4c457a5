"""``seatsync notify``: who hears about failed or blocked rows, rows waiting for approval, a broken connection
and a missed schedule."""

from __future__ import annotations

import click

from seatsync.cli.context import app_context, database_option
from seatsync.cli.output import render
from seatsync.db.engine import transaction
from seatsync.domain.periods import shown_instant, time_zone
from seatsync.notify import WebhookFormat
from seatsync.services import notifications
from seatsync.services import tenants as tenant_service

TENANT = click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")


@click.group()
def notify() -> None:
    """Notification channels (e-mail through SEATSYNC_SMTP_URL, webhooks) and what was sent."""


@notify.group("add")
def notify_add() -> None:
    """Add a channel."""


@notify_add.command("email")
@TENANT
@click.option("--to", "to", required=True, help="The address that receives the mail.")
@database_option
def add_email(tenant_slug: str, to: str) -> None:
    """Mail every event to ADDR (through the server in SEATSYNC_SMTP_URL)."""
    with transaction(app_context().engine) as session:
        tenant = tenant_service.get_tenant(session, slug=tenant_slug)
        channel = notifications.add_email(session, tenant=tenant, to=to, created_by="cli")
        click.echo(f"channel {channel.id}: {notifications.describe(channel)}")


@notify_add.command("webhook")
@TENANT
@click.option(
    "--url", required=True, help="The webhook's address (kept encrypted: Slack and Teams put a secret in it)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in WebhookFormat]),
    default=WebhookFormat.JSON.value,
    show_default=True,
    help="json: seatsync's own document; slack: an incoming webhook; teams: a Workflows webhook (Adaptive Card).",
)
@database_option
def add_webhook(tenant_slug: str, url: str, fmt: str) -> None:
    """POST every event to URL as JSON."""
    context = app_context()
    with transaction(context.engine) as session:
        tenant = tenant_service.get_tenant(session, slug=tenant_slug)
        channel = notifications.add_webhook(
            session, tenant=tenant, url=url, fmt=WebhookFormat(fmt), settings=context.settings, created_by="cli"
        )
        click.echo(f"channel {channel.id}: {notifications.describe(channel)}")


@notify.command("list")
@TENANT
@click.option("--deliveries", is_flag=True, help="List the latest deliveries instead of the channels.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@database_option
def notify_list(tenant_slug: str, deliveries: bool, fmt: str) -> None:
    """The tenant's channels (or, with --deliveries, what was sent through them)."""
    rows: list[tuple[object, ...]]
    header: tuple[str, ...]
    with transaction(app_context().engine) as session:
        tenant = tenant_service.get_tenant(session, slug=tenant_slug)
        if deliveries:
            sent = notifications.recent_deliveries(session, tenant=tenant, limit=50)
            rows = [
                (
                    d.id,
                    shown_instant(d.created_at, time_zone(tenant.time_zone)),
                    d.channel,
                    d.event,
                    d.status,
                    d.attempts,
                    d.subject,
                    d.error or "",
                )
                for d in sent
            ]
            header = ("id", "at", "channel", "event", "status", "attempts", "subject", "error")
        else:
            channels = notifications.list_channels(session, tenant=tenant)
            rows = [(c.id, c.kind, c.format or "", c.address) for c in channels]
            header = ("id", "kind", "format", "address")
    click.echo(render(header, rows, fmt), nl=False)


@notify.command("remove")
@click.argument("channel_id", type=int)
@TENANT
@database_option
def notify_remove(channel_id: int, tenant_slug: str) -> None:
    """Stop sending to channel CHANNEL_ID (its past deliveries are kept)."""
    with transaction(app_context().engine) as session:
        tenant = tenant_service.get_tenant(session, slug=tenant_slug)
        channel = notifications.remove_channel(session, tenant=tenant, channel_id=channel_id)
        click.echo(f"removed channel {channel_id}: {notifications.describe(channel)}")
