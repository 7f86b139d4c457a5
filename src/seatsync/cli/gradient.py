"""Gradient commands: ``sandbox gradient``, ``connect gradient``, ``sync-accounts``,
``push gradient``."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from seatsync.cli.context import app_context, database_option, skip_invoiced_option
from seatsync.cli.output import render
from seatsync.cli.push import APPROVE_OVER_THRESHOLD
from seatsync.connectors.gradient import DEFAULT_URL
from seatsync.db.engine import transaction
from seatsync.domain.periods import BillingPeriod, time_zone
from seatsync.errors import AuthenticationFailed, SeatsyncError
from seatsync.services import gradient as gradient_service
from seatsync.services import tenants as tenant_service


@click.command("gradient")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8092, show_default=True, type=int)
@click.option("--latency-ms", default=0.0, show_default=True, type=float, help="Delay before every API answer.")
@click.option(
    "--rate-limit",
    default=6000.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Requests a minute per vendor key before 429 (Gradient documents 100 a second: 6000; 0: none).",
)
@click.option("--fault-rate", default=0.0, show_default=True, type=click.FloatRange(0, 1), help="Share of 500s/drops.")
@click.option("--seed", default="demo", show_default=True, type=click.Choice(["demo", "empty"]))
def sandbox_gradient(host: str, port: int, latency_ms: float, rate_limit: float, fault_rate: float, seed: str) -> None:
    """A simulator of Gradient's Synthesize vendor API (vendor key demo-vendor, partner token demo-partner)."""
    import uvicorn

    from seatsync.sandboxes.gradient import GradientSandbox, create_app

    per_second = rate_limit / 60 if rate_limit else None  # the sandbox's bucket refills per second
    app = create_app(GradientSandbox.seeded(seed), latency_ms=latency_ms, rate_limit=per_second, fault_rate=fault_rate)
    limit = f"{rate_limit:g} requests a minute" if rate_limit else "no rate limit"
    click.echo(
        f"Gradient sandbox at http://{host}:{port} (seed {seed}; {limit}; MSP side under /_sandbox/state and "
        "/_sandbox/map)"
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


def _previous_month(zone_name: str) -> BillingPeriod:
    return BillingPeriod.containing(datetime.now(UTC), time_zone(zone_name)).previous()


@click.command("gradient")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@click.option("--period", default=None, help="YYYY-MM (default: the previous month in the tenant's time zone).")
@click.option("--dry-run", is_flag=True, help="Print the counts that would be sent; send and write nothing.")
@click.option("--retry-failed", is_flag=True, help="Re-send only the counts that failed in the latest push.")
@click.option("--force", is_flag=True, help="Accepted for every target; nothing is ever blocked in Gradient.")
@skip_invoiced_option
@APPROVE_OVER_THRESHOLD
@click.option("--by", "started_by", default="cli", show_default=True, help="Who starts it (kept in the history).")
@database_option
def push_gradient(
    tenant_slug: str,
    period: str | None,
    dry_run: bool,
    retry_failed: bool,
    force: bool,
    skip_invoiced: bool,
    approve_over: bool,
    started_by: str,
) -> None:
    """Set each account's unit count of each subscribed service in Gradient to its billable users.

    Exits 0 only when every mapped account and service succeeded ("not mapped in Gradient" is not a failure).
    """
    from seatsync.cli.push import _Bar, confirm_over_threshold, held_note, number, period_note
    from seatsync.push import gradient as gradient_push
    from seatsync.push import runs
    from seatsync.targets.base import PushOptions
    from seatsync.targets.registry import get_target

    engine = app_context().engine
    with transaction(engine) as session:
        tenant = tenant_service.get_tenant(session, slug=tenant_slug)
        tenant_id = tenant.id
        chosen = BillingPeriod.parse(period) if period else _previous_month(tenant.time_zone)
        state = period_note(chosen, tenant.time_zone)  # a month that has not started: exit 2, nothing sent
        options = PushOptions(
            chosen, retry_failed=retry_failed, force=force, started_by=started_by, skip_invoiced=skip_invoiced
        )
        get_target("gradient").check_options(options)  # an option Gradient cannot honour: refused, in a dry run too
        if dry_run:
            items = gradient_push.plan(session, tenant=tenant, period=chosen)
            click.echo(f"counts for {tenant_slug}, {chosen}{state} (dry run: nothing is sent or written)")
            rows = [
                [
                    i.company_id,
                    i.company_name,
                    i.service_name,
                    i.count,
                    "" if i.service_id else "service not registered",
                ]
                for i in items
            ]
            click.echo(render(["account", "company", "service", "count", "note"], rows, "table"), nl=False)
            click.echo(f"{len(items)} count(s) would be sent; accounts missing in Gradient would be created first")
            return
        # the stored token must open (the right key) before a run is recorded
        gradient_service.client_for(session, tenant=tenant).close()
    approve = confirm_over_threshold(tenant_id, "gradient", chosen, given=approve_over)
    bar = _Bar()
    try:
        run_id = gradient_push.run_gradient_push(
            engine,
            tenant_id=tenant_id,
            period=chosen,
            started_by=started_by,
            progress=bar,
            retry_failed=retry_failed,
            force=force,
            approve_over_threshold=approve,
        )
    finally:
        bar.close()
    with transaction(engine) as session:
        run = runs.get_run(session, tenant_id=tenant_id, run_id=run_id)
        results = runs.run_results(session, tenant_id=tenant_id, run_id=run_id)
    names = gradient_push.SERVICE_NAMES
    rows = [
        [
            r.company_id,
            r.company_name,
            names.get(r.result.product or "", r.result.product or ""),
            number(r.result.billable),
            r.result.outcome,
            r.result.reason or "",
        ]
        for r in results
    ]
    click.echo(render(["account", "company", "service", "count", "outcome", "reason"], rows, "table"), nl=False)
    unconfirmed = sum(r.result.outcome == runs.Outcome.UNCONFIRMED for r in results)
    click.echo(
        f"run {run.id} ({chosen}{state}): {run.status}; {run.succeeded} succeeded, {run.not_mapped} not mapped in Gradient, "
        f"{run.failed} failed" + (f", {unconfirmed} unconfirmed (push again)" if unconfirmed else "")
    )
    if run.status_reason:
        click.echo(run.status_reason)
    if note := held_note(results, run_id=run.id, tenant_slug=tenant_slug):
        click.echo(note)
    ok = {runs.Outcome.SUCCEEDED.value, runs.Outcome.NOT_MAPPED.value}
    if run.status == runs.RunStatus.FAILED or any(r.result.outcome not in ok for r in results):
        click.get_current_context().exit(1)
