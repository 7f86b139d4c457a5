"""Gradient commands: ``sandbox gradient``, ``connect gradient``, ``sync-accounts``,
``push gradient``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from seatsync.cli.context import app_context, database_option
from seatsync.cli.output import render
from seatsync.cli.push import PushCommand, number, push_options
from seatsync.connectors.gradient import DEFAULT_URL
from seatsync.db.engine import transaction
from seatsync.errors import AuthenticationFailed, SeatsyncError
from seatsync.push import runs
from seatsync.services import gradient as gradient_service
from seatsync.services import tenants as tenant_service

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from seatsync.db.models import PushRun, Tenant
    from seatsync.targets.base import PushOptions


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


class _GradientPush(PushCommand):
    key = "gradient"

    def plan(self, session: Session, tenant: Tenant, *, options: PushOptions, shown: str, tenant_slug: str) -> bool:
        from seatsync.push import gradient as gradient_push

        items = gradient_push.plan(session, tenant=tenant, period=options.period)
        click.echo(f"counts for {tenant_slug}, {shown} (dry run: nothing is sent or written)")
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
        return True

    def open_stored(self, session: Session, tenant: Tenant) -> None:
        gradient_service.client_for(session, tenant=tenant).close()  # the stored token must open (the right key)

    def table(self, results: list[runs.ResultRow]) -> tuple[list[str], list[list[object]]]:
        from seatsync.push.gradient import SERVICE_NAMES as names

        rows: list[list[object]] = [
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
        return ["account", "company", "service", "count", "outcome", "reason"], rows

    def summary(self, run: PushRun, results: list[runs.ResultRow], *, shown: str, dry_run: bool) -> str:
        unconfirmed = sum(r.result.outcome == runs.Outcome.UNCONFIRMED for r in results)
        said = (
            f"run {run.id} ({shown}): {run.status}; {run.succeeded} succeeded, {run.not_mapped} not mapped in Gradient, "
            f"{run.failed} failed" + (f", {unconfirmed} unconfirmed (push again)" if unconfirmed else "")
        )
        return f"{said}\n{run.status_reason}" if run.status_reason else said

    def failed(self, run: PushRun, results: list[runs.ResultRow]) -> bool:
        ok = {runs.Outcome.SUCCEEDED.value, runs.Outcome.NOT_MAPPED.value}
        return run.status == runs.RunStatus.FAILED or any(r.result.outcome not in ok for r in results)


@click.command("gradient")
@push_options(
    month="previous",
    dry_run="Print the counts that would be sent; send and write nothing.",
    retry_failed="Re-send only the counts that failed in the latest push.",
    force="Accepted for every target; nothing is ever blocked in Gradient.",
)
def push_gradient(**flags: Any) -> None:
    """Set each account's unit count of each subscribed service in Gradient to its billable users.

    Exits 0 only when every mapped account and service succeeded ("not mapped in Gradient" is not a failure).
    """
    _GradientPush().run(**flags)
