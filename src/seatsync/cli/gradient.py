"""Gradient commands: ``sandbox gradient``, ``connect gradient``, ``sync-accounts``."""

from __future__ import annotations

import click

from seatsync.cli.context import app_context, database_option
from seatsync.connectors.gradient import DEFAULT_URL
from seatsync.db.engine import transaction
from seatsync.errors import AuthenticationFailed, SeatsyncError
from seatsync.services import gradient as gradient_service
from seatsync.services import tenants as tenant_service


@click.command("gradient")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8092, show_default=True, type=int)
@click.option("--latency-ms", default=0.0, show_default=True, type=float, help="Delay before every API answer.")
@click.option("--rate-limit", default=100.0, show_default=True, type=float, help="Requests a second (0: none).")
@click.option("--fault-rate", default=0.0, show_default=True, type=click.FloatRange(0, 1), help="Share of 500s/drops.")
@click.option("--seed", default="demo", show_default=True, type=click.Choice(["demo", "empty"]))
def sandbox_gradient(host: str, port: int, latency_ms: float, rate_limit: float, fault_rate: float, seed: str) -> None:
    """A simulator of Gradient's Synthesize vendor API (vendor key demo-vendor, partner token demo-partner)."""
    import uvicorn

    from seatsync.sandboxes.gradient import GradientSandbox, create_app

    app = create_app(
        GradientSandbox.seeded(seed), latency_ms=latency_ms, rate_limit=rate_limit or None, fault_rate=fault_rate
    )
    click.echo(
        f"Gradient sandbox at http://{host}:{port} (seed {seed}; MSP side under /_sandbox/state and /_sandbox/map)"
    )
    if seed == "demo":
        click.echo("vendor key demo-vendor, partner token demo-partner")
    uvicorn.run(app, host=host, port=port, log_level="warning")


@click.command("gradient")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@click.option("--token", required=True, help="The partner token generated in Synthesize.")
@click.option("--url", default=DEFAULT_URL, show_default=True, help="Gradient API base URL.")
@database_option
def connect_gradient(tenant_slug: str, token: str, url: str) -> None:
    """Store the partner token (encrypted), validate it, set pending, register services, sync accounts."""
    with transaction(app_context().engine) as session:
        tenant = tenant_service.get_tenant(session, slug=tenant_slug)
        result = gradient_service.connect(session, tenant=tenant, token=token, url=url)
    click.echo(f"connected to Gradient organization {result.organization_name or '?'} (status pending)")
    if result.services_created:
        click.echo(f"services created: {', '.join(result.services_created)}")
    if result.services_found:
        click.echo(f"services already there: {', '.join(result.services_found)}")
    if result.sync is not None:
        click.echo(f"accounts: {result.sync.summary()}")
    if result.sync_error:
        raise click.ClickException(f"connected, but the account sync failed: {result.sync_error}")


@click.command("sync-accounts")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@database_option
def sync_accounts(tenant_slug: str) -> None:
    """Send every company to Gradient as an account ("Sync Company Accounts") and say what changed."""
    failure: SeatsyncError | None = None
    with transaction(app_context().engine) as session:
        tenant = tenant_service.get_tenant(session, slug=tenant_slug)
        with gradient_service.client_for(session, tenant=tenant) as client:
            try:
                report = gradient_service.sync_accounts(session, tenant=tenant, client=client)
            except AuthenticationFailed as exc:
                failure = exc  # commit the "broken" mark before reporting
    if failure is not None:
        raise failure
    click.echo(f"accounts: {report.summary()}")


def register(cli: click.Group) -> None:
    """Add the commands, joining the ``sandbox`` and ``connect`` groups when other modules created them."""
    for group_name, command, help_text in (
        ("sandbox", sandbox_gradient, "Run a simulator of an external API."),
        ("connect", connect_gradient, "Connect a tenant to ConnectWise or Gradient."),
    ):
        group = cli.commands.get(group_name)
        if not isinstance(group, click.Group):
            group = click.Group(group_name, help=help_text)
            cli.add_command(group)
        group.add_command(command)
    cli.add_command(sync_accounts)
