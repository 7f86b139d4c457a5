"""ConnectWise commands: ``sandbox connectwise``, ``connect connectwise``, and ``rotate-key``."""

from __future__ import annotations

import click

from seatsync.cli.context import app_context, database_option
from seatsync.db.engine import transaction


@click.command("connectwise")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8101, show_default=True, type=int, help="Port (0 picks a free one).")
@click.option("--latency-ms", default=0.0, show_default=True, type=float, help="Added to every API answer.")
@click.option(
    "--rate-limit", default=None, type=int, help="Requests a minute per API member before 429 (default: none)."
)
@click.option("--fault-rate", default=0.0, show_default=True, type=float, help="Share of API calls that fail (0-1).")
@click.option("--seed", type=click.Choice(["demo", "empty"]), default="demo", show_default=True)
def sandbox_connectwise(
    host: str, port: int, latency_ms: float, rate_limit: int | None, fault_rate: float, seed: str
) -> None:
    """A ConnectWise Manage simulator (company id `demo`, members demo-public/demo-private and readonly-public/readonly-private)."""
    import uvicorn

    from seatsync.sandboxes.connectwise import ConnectWiseSandbox, create_app
    from seatsync.sandboxes.server import free_port

    if not 0 <= fault_rate <= 1:
        raise click.BadParameter("a probability between 0 and 1", param_hint="--fault-rate")
    state = ConnectWiseSandbox(seed=seed, latency_ms=latency_ms, fault_rate=fault_rate, rate_limit=rate_limit)
    port = port or free_port(host)
    click.echo(f"ConnectWise sandbox at http://{host}:{port} (company id {state.company_id}, seed {seed})")
    click.echo(
        f"  connect with: --site http://{host}:{port} --company-id demo --public-key demo-public --private-key demo-private --client-id <any>"
    )
    click.echo(f"  state: http://{host}:{port}/_sandbox/state")
    uvicorn.run(create_app(state), host=host, port=port, log_level="warning")


@click.command("connectwise")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@click.option("--site", required=True, help="e.g. api-na.myconnectwise.net, or http://127.0.0.1:8101 for the sandbox.")
@click.option("--company-id", required=True, help="The company id you log in to ConnectWise with.")
@click.option("--public-key", required=True, help="The API member's public key.")
@click.option(
    "--private-key", prompt=True, hide_input=True, help="The API member's private key (prompted if left out)."
)
@click.option(
    "--client-id", envvar="SEATSYNC_CONNECTWISE_CLIENT_ID", default=None, help="The integration's clientId (GUID)."
)
@database_option
def connect_connectwise(
    tenant_slug: str, site: str, company_id: str, public_key: str, private_key: str, client_id: str | None
) -> None:
    """Store the credentials (encrypted) and check the connection and every right the billing push needs."""
    from seatsync.services import connectwise_connection as service
    from seatsync.services.tenants import get_tenant

    with transaction(app_context().engine) as session:
        tenant = get_tenant(session, slug=tenant_slug)
        result = service.connect(
            session,
            tenant=tenant,
            site=site,
            company_id=company_id,
            public_key=public_key,
            private_key=private_key,
            client_id=client_id,
            settings=app_context().settings,
        )
    for check in result.checks:
        click.echo(str(check))
    if result.status is service.IntegrationStatus.CONNECTED:
        click.echo(f"connected: {tenant_slug} -> ConnectWise at {site}")
        return
    raise click.ClickException(result.summary())


@click.command("rotate-key")
@database_option
def rotate_key() -> None:
    """Re-encrypt every stored secret under a new key (key file, or prints the new SEATSYNC_SECRET_KEY)."""
    from seatsync.services.secrets import rotate_key as rotate

    context = app_context()
    click.echo(rotate(context.engine, settings=context.settings).instructions())
