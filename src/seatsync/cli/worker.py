"""``seatsync worker``: run queued pushes, account syncs and the monthly schedule (PostgreSQL only);
``seatsync jobs``: queue them and see the queue."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from seatsync.cli.context import app_context, database_option, skip_invoiced_option
from seatsync.config import Settings
from seatsync.db.engine import is_postgres
from seatsync.errors import ConfigurationError

if TYPE_CHECKING:
    from seatsync.jobs.dispatch import JobHandle


@click.command()
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 256), help="Jobs run at once.")
@click.option(
    "--queues",
    default="",
    help="Comma-separated queues to take jobs from: connectwise, gradient (pushes, account syncs), default "
    "(the schedule, housekeeping). Default: all.",
)
@click.option(
    "--heartbeat", default=10.0, show_default=True, type=click.FloatRange(0.1), help="Seconds between heartbeats."
)
@click.option(
    "--stalled-after",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0.5),
    help="Seconds without a heartbeat after which a worker's running jobs are queued again.",
)
@click.option("--metrics-port", default=None, type=click.IntRange(0, 65535), help="Serve Prometheus metrics here.")
@database_option
def worker(concurrency: int, queues: str, heartbeat: float, stalled_after: float, metrics_port: int | None) -> None:
    """Run jobs from the PostgreSQL queue; start as many as you like, on any machines."""
    from seatsync.jobs import observe
    from seatsync.jobs.procrastinate_app import run_worker

    context = app_context()
    # judged by the URL first: a SQLite file need not exist to be refused for what it is
    if context.database_url.startswith("sqlite") or not is_postgres(context.engine):  # (brings the schema up to date)
        raise ConfigurationError(
            "seatsync worker needs PostgreSQL (SEATSYNC_DATABASE_URL=postgresql://...); with SQLite, "
            "`seatsync serve` runs pushes itself"
        )
    settings = _settings()
    observe.configure_logging(settings.log_format)
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1")
    names = [q.strip() for q in queues.split(",") if q.strip()]
    click.echo(f"seatsync worker: concurrency {concurrency}, queues {', '.join(names) or 'all'}", err=True)
    run_worker(
        settings=settings, concurrency=concurrency, queues=names, heartbeat=heartbeat, stalled_after=stalled_after
    )


@click.group("jobs")
def jobs_group() -> None:
    """Queue pushes and account syncs (run by `seatsync worker` on PostgreSQL, here otherwise), see the queue."""


def _enqueued(handle: JobHandle, wait: bool) -> None:
    from seatsync.jobs.dispatch import JobState, QueueKind

    if handle.queue is QueueKind.INPROCESS:
        handle.wait()  # nobody else will run it: this command does, now
        if handle.error is not None:
            raise handle.error
        click.echo(f"{handle.task} done: {handle.result}")
        return
    said = "already queued as" if handle.existing else "queued as"
    run = f" (run {handle.run_id})" if handle.run_id is not None else ""
    click.echo(f"{handle.task} {said} job {handle.job_id}{run}")
    if wait:
        while not handle.finished:
            time.sleep(0.5)
        state = handle.state()
        click.echo(f"job {handle.job_id} {state.value}")
        if state is not JobState.SUCCEEDED:
            raise click.exceptions.Exit(1)


@jobs_group.command("push")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@click.option("--target", required=True, help="A billing target: connectwise, gradient ...")
@click.option("--period", required=True, help="YYYY-MM (a month that has not started is refused: exit 2).")
@click.option("--retry-failed", is_flag=True, help="Only the companies that failed in the latest push.")
@click.option("--force", is_flag=True, help="Also push blocked companies.")
@click.option("--dry-run", is_flag=True, help="Record what would be done; send nothing.")
@skip_invoiced_option
@click.option(
    "--approve-over-threshold",
    "approve_over",
    is_flag=True,
    help="Also send the rows over the approval threshold (otherwise they wait on Approvals).",
)
@click.option("--by", "started_by", default="cli", show_default=True, help="Who starts it (kept in the history).")
@click.option("--wait", is_flag=True, help="Wait until a worker has run it.")
@database_option
def jobs_push(
    tenant_slug: str,
    target: str,
    period: str,
    retry_failed: bool,
    force: bool,
    dry_run: bool,
    skip_invoiced: bool,
    approve_over: bool,
    started_by: str,
    wait: bool,
) -> None:
    """Start one push's run and queue it (one at a time per tenant and target; one already queued is returned,
    not doubled)."""
    from seatsync.db.engine import transaction
    from seatsync.jobs.dispatch import get_dispatcher
    from seatsync.services.tenants import get_tenant

    context = app_context()
    with transaction(context.engine) as session:
        tenant_id = get_tenant(session, slug=tenant_slug).id
    dispatcher = get_dispatcher(_settings(), context.engine)
    handle = dispatcher.enqueue_push(
        tenant_id,
        target,
        period,
        started_by,
        force=force,
        retry_failed=retry_failed,
        dry_run=dry_run,
        skip_invoiced=skip_invoiced,
        approve_over_threshold=approve_over,
    )
    _enqueued(handle, wait)


@jobs_group.command("sync-accounts")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@click.option("--wait", is_flag=True, help="Wait until a worker has run it.")
@database_option
def jobs_sync_accounts(tenant_slug: str, wait: bool) -> None:
    """Queue a Gradient account sync of one tenant."""
    from seatsync.db.engine import transaction
    from seatsync.jobs.dispatch import get_dispatcher
    from seatsync.services.tenants import get_tenant

    context = app_context()
    with transaction(context.engine) as session:
        tenant_id = get_tenant(session, slug=tenant_slug).id
    _enqueued(get_dispatcher(_settings(), context.engine).enqueue_sync_accounts(tenant_id), wait)


@jobs_group.command("status")
@database_option
def jobs_status() -> None:
    """Jobs by task and status, and the workers alive (PostgreSQL)."""
    from sqlalchemy import text

    from seatsync.cli.output import render
    from seatsync.jobs.dispatch import live_workers

    engine = app_context().engine
    if not is_postgres(engine):
        click.echo("SQLite: jobs run inside `seatsync serve`; there is no queue")
        return
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT task_name, status::text, count(*) FROM procrastinate_jobs GROUP BY 1, 2 ORDER BY 1, 2")
        ).all()
    click.echo(render(["task", "status", "jobs"], [list(r) for r in rows], "table"), nl=False)
    click.echo(f"workers alive: {live_workers(engine)}")


def _settings() -> Settings:
    context = app_context()
    return context.settings.model_copy(update={"database_url": context.database_url})
