"""Core commands: migrate, tenant, operator, import, billable."""

from __future__ import annotations

from pathlib import Path

import click

from seatsync.cli.context import app_context, database_option
from seatsync.cli.output import render
from seatsync.db.engine import transaction
from seatsync.domain.periods import BillingPeriod, shown_instant, time_zone
from seatsync.domain.rules import Rule
from seatsync.services import billing
from seatsync.services import tenants as tenant_service
from seatsync.services.imports import ImportKind, after_import, import_file


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
@click.option("--rule", default="active", show_default=True, help="Billing rule: active, active-at-end, engaged, peak.")
@database_option
def tenant_create(name: str, time_zone_name: str, rule: str) -> None:
    """Create a tenant; prints its slug (a new SQLite database is made when there is none)."""
    with transaction(app_context(create=True).engine) as session:
        created = tenant_service.create_tenant(session, name=name, time_zone_name=time_zone_name, rule=rule)
        click.echo(created.slug)


@tenant.command("list")
@database_option
def tenant_list() -> None:
    """List tenants: slug, time zone, rule, name."""
    with transaction(app_context().engine) as session:
        found = tenant_service.list_tenants(session)
        for t in found:
            click.echo(f"{t.slug}\t{t.time_zone}\t{t.billing_rule}\t{t.name}")
    if not found:
        click.echo("no tenants yet: create one with `seatsync tenant create NAME`", err=True)


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


@click.command("import")
@click.argument("kind", type=click.Choice([k.value for k in ImportKind]))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@database_option
def import_command(kind: str, file: Path, tenant_slug: str) -> None:
    """Import companies, users (status changes) or activity from a CSV (or .jsonl) file, all or nothing."""
    with transaction(app_context().engine) as session, file.open("rb") as stream:
        t = tenant_service.get_tenant(session, slug=tenant_slug)
        result = import_file(session, tenant=t, kind=ImportKind(kind), stream=stream, source=file.name)
        click.echo(result.summary())
    note = after_import(app_context().engine, tenant_id=t.id, result=result)  # after the commit: never undoes it
    if note:
        click.echo(note)


@click.command()
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@click.option("--period", required=True, help="Billing period YYYY-MM (in the tenant's time zone).")
@click.option(
    "--rule",
    type=click.Choice([r.value for r in Rule]),
    default=None,
    help="One rule for every company (default: each company's own rule, else the tenant's).",
)
@click.option("--users", "list_users", is_flag=True, help="List the users counted, and why.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@database_option
def billable(tenant_slug: str, period: str, rule: str | None, list_users: bool, fmt: str) -> None:
    """Billable users per company for a billing period."""
    billing_period = BillingPeriod.parse(period)
    chosen = Rule(rule) if rule else None
    with transaction(app_context().engine) as session:
        t = tenant_service.get_tenant(session, slug=tenant_slug)
        if list_users:
            users = billing.billable_users(session, tenant=t, period=billing_period, rule=chosen)
            header = ["company_id", "company_name", "user_id", "email", "name", "since", "reason", "rule"]
            rows: list[list[object]] = [
                [u.company_id, u.company_name, u.user_id, u.email, u.name, u.since.isoformat(), u.reason, u.rule.value]
                for u in users
            ]
        else:
            counts = billing.count_billable(session, tenant=t, period=billing_period, rule=chosen)
            header = ["company_id", "company_name", "billable_users", "rule"]
            rows = [[c.company_id, c.name, c.billable_users, c.rule.value] for c in counts]
    click.echo(render(header, rows, fmt), nl=False)


@click.group()
def company() -> None:
    """A company's own settings."""


@company.command("set-rule")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@click.option("--company", "company_id", required=True, help="The company's company_id.")
@click.option("--rule", type=click.Choice([r.value for r in Rule]), default=None, help="The company's own rule.")
@click.option("--clear", is_flag=True, help="Count the company with the tenant's rule again.")
@database_option
def company_set_rule(tenant_slug: str, company_id: str, rule: str | None, clear: bool) -> None:
    """Count one company with its own billing rule (or, with --clear, the tenant's again)."""
    from seatsync.services.companies import set_company_rule

    if (rule is None) == (not clear):
        raise click.UsageError("give --rule R or --clear (not both)")
    with transaction(app_context().engine) as session:
        t = tenant_service.get_tenant(session, slug=tenant_slug)
        changed = set_company_rule(session, tenant=t, company_id=company_id, rule=rule)
        if changed.billing_rule:
            click.echo(f"company {changed.company_id} is counted with rule {changed.billing_rule}")
        else:
            click.echo(f"company {changed.company_id} is counted with the tenant's rule ({t.billing_rule})")


@company.command("archive")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@click.option("--company", "company_id", required=True, help="The company's company_id.")
@click.option("--at", "at_text", default=None, help="When the client left (ISO-8601 with an offset; default: now).")
@database_option
def company_archive(tenant_slug: str, company_id: str, at_text: str | None) -> None:
    """The client left: its period is still pushed (0 once nobody is billable), the next ones are not."""
    from datetime import UTC, datetime

    from seatsync.services.companies import archive_company

    try:
        at = datetime.fromisoformat(at_text.replace("Z", "+00:00")) if at_text else datetime.now(UTC)
    except ValueError:
        raise click.BadParameter(f"{at_text!r} is not an ISO-8601 instant", param_hint="--at") from None
    with transaction(app_context().engine) as session:
        t = tenant_service.get_tenant(session, slug=tenant_slug)
        done = archive_company(session, tenant=t, company_id=company_id, at=at)
        zone = time_zone(t.time_zone)
        period = BillingPeriod.containing(at, zone)
        when = shown_instant(at, zone)
        click.echo(
            f"company {done.company_id} archived at {when}: pushed for {period}, skipped from {period.next()} on"
        )


@operator.command("list")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@database_option
def operator_list(tenant_slug: str) -> None:
    """List the tenant's operators: email, role, created (in the tenant's zone)."""

    with transaction(app_context().engine) as session:
        t = tenant_service.get_tenant(session, slug=tenant_slug)
        zone = time_zone(t.time_zone)
        for op in tenant_service.list_operators(session, tenant=t):
            disabled = "\tdisabled" if op.disabled else ""
            click.echo(f"{op.email}\t{op.role}\t{shown_instant(op.created_at, zone)}{disabled}")


@operator.command("remove")
@click.argument("email")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@database_option
def operator_remove(email: str, tenant_slug: str) -> None:
    """Remove an operator (their sessions and API tokens end); the tenant's last admin cannot be removed."""
    with transaction(app_context().engine) as session:
        t = tenant_service.get_tenant(session, slug=tenant_slug)
        removed = tenant_service.remove_operator(session, tenant=t, email=email)
    click.echo(f"operator {removed} removed from {tenant_slug}")


@operator.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(tenant_service.ROLES))
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@database_option
def operator_set_role(email: str, role: str, tenant_slug: str) -> None:
    """Make an operator admin or viewer; the tenant always keeps one admin."""
    with transaction(app_context().engine) as session:
        t = tenant_service.get_tenant(session, slug=tenant_slug)
        op = tenant_service.set_operator_role(session, tenant=t, email=email, role=role)
    click.echo(f"operator {op.email} is now {op.role} in {tenant_slug}")
