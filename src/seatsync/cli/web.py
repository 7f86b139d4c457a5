"""``seatsync serve``: the web app and API with uvicorn; pushes run on background threads of the serving processes
(or on workers), and the monthly schedule runs here while no worker runs it (always on SQLite; never with
``SEATSYNC_JOB_QUEUE=procrastinate``)."""

from __future__ import annotations

import os
from typing import Any

import click

from seatsync.cli.context import app_context, database_option


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Processes serving requests (one Python process uses one core at a time: about one per core).",
)
@click.option(
    "--secure-cookies/--no-secure-cookies", default=None, help="Default: Secure when the request came over HTTPS."
)
@database_option
def serve(host: str, port: int, workers: int, secure_cookies: bool | None) -> None:
    """Run the web app and the JSON API (OpenAPI at /openapi.json)."""
    import uvicorn

    from seatsync.jobs.observe import configure_logging
    from seatsync.web.app import create_app, tune_garbage_collector
    from seatsync.web.serving import APP_FACTORY, Workers, handoff_supported

    context = app_context(create=True)
    configure_logging(context.settings.log_format)  # SEATSYNC_LOG_FORMAT=json: one JSON object a line
    engine = context.engine  # the schema is brought up to date here, once, before any worker starts
    click.echo(f"seatsync at http://{host}:{port}/ (API under /api/v1, OpenAPI at /openapi.json)")
    scheduler = None
    if context.settings.job_queue != "procrastinate":
        # the monthly schedule, one per deployment: this loop pushes only while no worker runs the periodic task
        # (always on SQLite); on PostgreSQL its pushes are paced by the shared buckets, like the workers'
        from seatsync.db.engine import is_postgres
        from seatsync.jobs.dispatch import schedules_here
        from seatsync.push.scheduler import Scheduler

        settings = context.settings
        scheduler = Scheduler(
            engine, enabled=lambda: schedules_here(settings, engine), shared_pacing=is_postgres(engine)
        ).start()
    options: dict[str, Any] = {"log_level": "info", "proxy_headers": True}
    code = 0
    try:
        if workers == 1:
            app = create_app(settings=context.settings, engine=engine, secure_cookies=secure_cookies)
            tune_garbage_collector()
            uvicorn.run(app, host=host, port=port, **options)
        else:
            # each worker process builds its own app from the environment (the same settings as this process)
            os.environ["SEATSYNC_DATABASE_URL"] = context.database_url
            if secure_cookies is not None:
                os.environ["SEATSYNC_SECURE_COOKIES"] = "true" if secure_cookies else "false"
            if handoff_supported():
                code = Workers(workers, host=host, port=port, options=options).run()
            else:
                uvicorn.run(APP_FACTORY, factory=True, workers=workers, host=host, port=port, **options)
    finally:
        if scheduler is not None:
            scheduler.stop(timeout=30)
    if code:
        raise click.ClickException("the web workers kept stopping right after they started: see the log above")
