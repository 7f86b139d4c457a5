"""The ``seatsync`` console script."""

from __future__ import annotations

import click

from seatsync import __version__
from seatsync.automation import install as install_automation
from seatsync.cli import (
    automation,
    autotask,
    catalog,
    connectwise,
    core,
    demo,
    gradient,
    halopsa,
    notify,
    push,
    web,
    worker,
)
from seatsync.cli.context import SeatsyncGroup


@click.group(cls=SeatsyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="seatsync")
def cli() -> None:
    """Count billable users per company and push them to ConnectWise Manage and Gradient MSP."""


core.register(cli)
connectwise.register(cli)
push.register(cli)
gradient.register(cli)  # after any module that creates the `sandbox`/`connect` groups
halopsa.register(cli)
autotask.register(cli)
web.register(cli)
demo.register(cli)
worker.register(cli)
notify.register(cli)
automation.register(cli)
catalog.register(cli)


def main() -> None:
    install_automation()
    cli(prog_name="seatsync")
