"""``seatsync schedule`` (when each target is pushed, and the approval threshold) and ``seatsync reject`` /
``seatsync approve`` (rows a push held back for approval)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from seatsync.cli.context import app_context, database_option, skip_invoiced_option
from seatsync.cli.output import render
from seatsync.db.engine import transaction
from seatsync.domain.monthly import MonthlySchedule
from seatsync.domain.periods import shown_instant, time_zone
from seatsync.errors import InvalidField, UserInputError
from seatsync.services import approvals, automation
from seatsync.services import tenants as tenant_service

TENANT = click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
TARGET = click.argument("target", type=click.Choice(list(automation.TARGETS)))
#: ``schedule set``'s flags, by the field an error names
FLAGS = {
    "day": "--day",
    "at": "--at",
    "period": "--period",
    "approve_above_percent": "--approve-above",
    "approve_above_seats": "--approve-above-seats",
}


@click.group()
def schedule() -> None:
    """When each target is pushed by itself, and which changes wait for an admin's approval."""


@schedule.command("set")
@TARGET
@TENANT
@click.option("--day", required=True, help="Day of the month: 1 to 28, or last.")
@click.option("--at", "at", required=True, help="Time of day HH:MM in the tenant's time zone.")
@click.option("--period", type=click.Choice(["previous", "current"]), required=True, help="Which month it pushes.")
@click.option("--approve-above", "percent", type=float, default=None, help="Hold rows changing by more than PCT %.")
@click.option("--approve-above-seats", "seats", type=int, default=None, help="Hold rows changing by more than N seats.")
@skip_invoiced_option
@database_option
def schedule_set(
    target: str,
    tenant_slug: str,
    day: str,
    at: str,
    period: str,
    percent: float | None,
    seats: int | None,
    skip_invoiced: bool,
) -> None:
    """Push TARGET on day D of each month at HH:MM (tenant's zone); optionally hold unusual changes for approval."""
    try:
        chosen = MonthlySchedule.parse(day=day, at=at, period=period)
        with transaction(app_context().engine) as session:
            tenant = tenant_service.get_tenant(session, slug=tenant_slug)
            automation.set_schedule(
                session, tenant=tenant, target=target, schedule=chosen, by="cli", skip_invoiced=skip_invoiced
            )
            row = automation.set_threshold(
                session, tenant=tenant, target=target, percent=percent, seats=seats, by="cli"
            )
            skipping = f", {automation.SKIPPING_INVOICED}" if skip_invoiced else ""
            said = [f"{target}: {chosen.describe()} ({tenant.time_zone}){skipping}"]
            said.append(f"approval: {automation.threshold_of(row).describe()}")
    except InvalidField as exc:  # named by this command's flags
        raise UserInputError(exc.named(FLAGS[exc.field])) from exc
    click.echo("\n".join(said))


@schedule.command("show")
@TENANT
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@database_option
def schedule_show(tenant_slug: str, fmt: str) -> None:
    """Each target's schedule, its next push (tenant's local time) and its approval threshold."""
    with transaction(app_context().engine) as session:
        tenant = tenant_service.get_tenant(session, slug=tenant_slug)
        plans = automation.overview(session, tenant=tenant, now=datetime.now(UTC))
        rows = [
            (
                p.target,
                p.schedule.day_text if p.schedule else "off",
                p.schedule.at if p.schedule else "",
                p.schedule.period if p.schedule else "",
                shown_instant(p.next_push, time_zone(tenant.time_zone)) if p.next_push else "",
                p.threshold.describe(),
                p.skip_invoiced if fmt == "json" else ("yes" if p.skip_invoiced else "no"),
            )
            for p in plans
        ]
    header = ("target", "day", "at", "period", "next_push", "approval", "skip_invoiced")
    click.echo(render(header, rows, fmt), nl=False)


@schedule.command("off")
@TARGET
@TENANT
@database_option
def schedule_turn_off(target: str, tenant_slug: str) -> None:
    """No scheduled push of TARGET any more (push it by hand; `schedule set` turns it on again)."""
    with transaction(app_context().engine) as session:
        tenant = tenant_service.get_tenant(session, slug=tenant_slug)
        automation.schedule_off(session, tenant=tenant, target=target, by="cli")
    click.echo(f"{target}: no scheduled push")


@click.command()
@click.argument("run_id", metavar="RUN", type=int)
@TENANT
@click.option("--company", "company_ids", multiple=True, help="Only this company's rows (repeat for more).")
@database_option
def reject(run_id: int, tenant_slug: str, company_ids: tuple[str, ...]) -> None:
    """Drop the rows of RUN that wait for approval (all, or those of --company): they are not sent."""
    with transaction(app_context().engine) as session:
        tenant = tenant_service.get_tenant(session, slug=tenant_slug)
        rows = approvals.reject(session, tenant=tenant, run_id=run_id, company_ids=list(company_ids), by="cli")
    for row in rows:
        click.echo(f"rejected {row.company_id} {row.company_name}: {row.change.describe()}")


@click.command()
@click.argument("run_id", metavar="RUN", type=int)
@TENANT
@click.option("--company", "company_ids", multiple=True, help="Only this company's rows (repeat for more).")
@database_option
def approve(run_id: int, tenant_slug: str, company_ids: tuple[str, ...]) -> None:
    """Send the rows of RUN that wait for approval (all, or those of --company), exactly as they were proposed
    (planned again first: a row that changed since waits again)."""
    from seatsync.automation.approve import push_here
    from seatsync.push.runs import get_run, run_results

    context = app_context()
    with transaction(context.engine) as session:
        tenant = tenant_service.get_tenant(session, slug=tenant_slug)
        tenant_id = tenant.id
    done = approvals.approve(
        context.engine,
        tenant_id=tenant_id,
        run_id=run_id,
        company_ids=list(company_ids),
        by="cli",
        send=push_here(context.settings),
    )
    for row in done.rows:
        click.echo(f"approved {row.company_id} {row.company_name}: {row.change.describe()}")
    if done.run_id is None:
        return
    with transaction(context.engine) as session:
        run = get_run(session, tenant_id=tenant_id, run_id=done.run_id)
        results = run_results(session, tenant_id=tenant_id, run_id=run.id)
        click.echo(f"run {run.id}: {run.status}")
        for result in results:
            r = result.result
            click.echo(f"  {result.company_id}: {r.outcome}" + (f" ({r.reason})" if r.reason else ""))
        bad = [x for x in results if x.result.outcome not in ("succeeded", "unchanged")]
    if bad:
        raise click.exceptions.Exit(1)
