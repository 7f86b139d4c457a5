"""``seatsync worker``: run queued pushes, account syncs and the monthly schedule (PostgreSQL only)."""

from __future__ import annotations

import click

from seatsync.cli.context import app_context, database_option
from seatsync.db.engine import is_postgres
from seatsync.errors import ConfigurationError


@click.command()
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 256), help="Jobs run at once.")
@click.option(
    "--queues", default="", help="Comma-separated queues to take jobs from (default: all; seatsync uses 'default')."
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
    if not is_postgres(context.engine):  # also brings the schema (and the queue's tables) up to date
        raise ConfigurationError(
            "seatsync worker needs PostgreSQL (SEATSYNC_DATABASE_URL=postgresql://...); with SQLite, "
            "`seatsync serve` runs pushes itself"
        )
    settings = context.settings.model_copy(update={"database_url": context.database_url})
    observe.configure_logging(settings.log_format)
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1")
    names = [q.strip() for q in queues.split(",") if q.strip()]
    click.echo(f"seatsync worker: concurrency {concurrency}, queues {', '.join(names) or 'all'}", err=True)
    run_worker(
        settings=settings, concurrency=concurrency, queues=names, heartbeat=heartbeat, stalled_after=stalled_after
    )


def register(cli: click.Group) -> None:
    cli.add_command(worker)
