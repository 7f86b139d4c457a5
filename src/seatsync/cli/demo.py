"""``seatsync demo``: the whole product on this machine, with nothing to configure."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click


@click.command()
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Web app port (0: any).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the web app listens on.")
@click.option("--password", default=None, help="The demo admin's password (default: a new one, printed).")
@click.option(
    "--database-url",
    default=None,
    help="Where the demo keeps its data (default: ./seatsync-demo.db; SEATSYNC_DATABASE_URL is ignored on purpose).",
)
@click.option("--connectwise-port", default=0, type=click.IntRange(0, 65535), help="ConnectWise sandbox port (0: any).")
@click.option("--gradient-port", default=0, type=click.IntRange(0, 65535), help="Gradient sandbox port (0: any).")
@click.option("--autotask-port", default=0, type=click.IntRange(0, 65535), help="Autotask sandbox port (0: any).")
@click.option("--halopsa-port", default=0, type=click.IntRange(0, 65535), help="HaloPSA sandbox port (0: any).")
def demo(
    port: int,
    host: str,
    password: str | None,
    database_url: str | None,
    connectwise_port: int,
    gradient_port: int,
    autotask_port: int,
    halopsa_port: int,
) -> None:
    """Run the demo: a demo tenant with companies and users, sandbox ConnectWise, Autotask, HaloPSA and Gradient
    servers connected to it, and the web app. Starting it again reuses the data. Ctrl-C stops everything.

    The sandboxes listen on 127.0.0.1, each on its --NAME-port (0, the default: any free port; the addresses are
    printed)."""
    from seatsync.demo.runner import Demo, configure_environment, default_database_url
    from seatsync.demo.setup import check_password

    if password is not None:
        check_password(password)  # before anything is created or changed
    url = database_url or default_database_url()
    configure_environment(url)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    ports = {"connectwise": connectwise_port, "gradient": gradient_port, "autotask": autotask_port}
    running = Demo(
        database_url=url, host=host, port=port, password=password, sandbox_ports={**ports, "halopsa": halopsa_port}
    )
    try:
        click.echo("starting the demo (the first start creates its data: a few seconds)...")
        info = running.start()
        for line in info.lines():
            click.echo(line)
        while not stop.wait(0.5):
            pass
        click.echo("stopping...")
    finally:
        running.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    click.echo("demo stopped")
