"""``seatsync disconnect TARGET --tenant SLUG``: one command for every registered billing target, through the
target seam (``BillingTarget.disconnect``)."""

from __future__ import annotations

import click

from seatsync.cli.context import app_context, database_option
from seatsync.db.engine import transaction


@click.command("disconnect")
@click.argument("target", metavar="TARGET")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@database_option
def disconnect(target: str, tenant_slug: str) -> None:
    """Forget a billing target's credentials (mappings and history are kept).

    TARGET is connectwise, autotask, halopsa or gradient (any registered target). Gradient is told first that the
    integration is inactive."""
    from seatsync.services.tenants import get_tenant
    from seatsync.targets.registry import get_target

    chosen = get_target(target)  # an unknown key names the known ones
    with transaction(app_context().engine) as session:
        done = chosen.disconnect(session, tenant=get_tenant(session, slug=tenant_slug))
    click.echo(done.summary(f"{chosen.label} ({tenant_slug})"))


__all__ = ["disconnect"]
