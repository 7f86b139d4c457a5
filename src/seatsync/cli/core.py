"""Core commands: migrate, tenant, operator, import, billable."""

from __future__ import annotations

import click

from seatsync.cli.context import app_context, database_option
from seatsync.db.engine import transaction
from seatsync.services import tenants as tenant_service


@click.command()
@database_option
def migrate() -> None:
    """Bring the database schema up to date."""
    from seatsync.db.engine import make_engine
    from seatsync.db.migrate import upgrade

    engine = make_engine(app_context().database_url)
    try:
        before, after = upgrade(engine)
    finally:
        engine.dispose()
    if before == after:
        click.echo(f"schema already at {after}")
    else:
        click.echo(f"schema upgraded: {before or 'empty'} -> {after}")


@click.group()
def tenant() -> None:
    """Create and list tenants (MSPs)."""


@tenant.command("create")
@click.argument("name")
@click.option("--time-zone", "time_zone_name", default="UTC", show_default=True, help="IANA time zone.")
@click.option("--rule", default="active", show_default=True, help="Billing rule: active, active-at-end, engaged.")
@database_option
def tenant_create(name: str, time_zone_name: str, rule: str) -> None:
    """Create a tenant; prints its slug."""
    with transaction(app_context().engine) as session:
        created = tenant_service.create_tenant(session, name=name, time_zone_name=time_zone_name, rule=rule)
        click.echo(created.slug)


@tenant.command("list")
@database_option
def tenant_list() -> None:
    """List tenants: slug, time zone, rule, name."""
    with transaction(app_context().engine) as session:
        for t in tenant_service.list_tenants(session):
            click.echo(f"{t.slug}\t{t.time_zone}\t{t.billing_rule}\t{t.name}")


@click.group()
def operator() -> None:
    """Operators: the people who log in for a tenant."""


@operator.command("create")
@click.argument("email")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@click.option("--role", type=click.Choice(tenant_service.ROLES), default="admin", show_default=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@database_option
def operator_create(email: str, tenant_slug: str, role: str, password: str) -> None:
    """Create an operator (prompts for the password unless --password is given)."""
    with transaction(app_context().engine) as session:
        t = tenant_service.get_tenant(session, slug=tenant_slug)
        op = tenant_service.create_operator(session, tenant=t, email=email, password=password, role=role)
        click.echo(f"operator {op.email} ({op.role}) created for {t.slug}")


def register(cli: click.Group) -> None:
    for command in (migrate, tenant, operator):
        cli.add_command(command)
