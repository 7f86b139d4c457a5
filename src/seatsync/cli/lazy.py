"""Commands imported only when they run: ``seatsync --help`` lists them from names and one-line helps, and
``seatsync billable`` imports what counting needs, not the web app, the sandboxes or the HTTP clients.

Light on purpose: this module and ``seatsync.cli.main`` import click and ``seatsync.errors`` only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import click

from seatsync.errors import SeatsyncError

__all__ = ["LazyGroup", "SeatsyncGroup"]


class LazyGroup(click.Group):
    """A group whose commands are named here and imported from ``"module:attribute"`` on first use.

    ``lazy(name, target, short_help)`` registers one; ``lazy_group(name, help)`` adds a sub-group (itself lazy)
    that several modules' commands can join. Commands added the usual way (``add_command``) work as well.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands: dict[str, tuple[str, str]] = {}

    def lazy(self, name: str, target: str, short_help: str) -> None:
        """``seatsync ... NAME`` runs the command object ``target`` (``"seatsync.cli.core:billable"``); the help
        listing shows ``short_help`` (a test checks that it is the command's own first line)."""
        self.lazy_commands[name] = (target, short_help)

    def lazy_group(self, name: str, help_text: str) -> LazyGroup:
        group = LazyGroup(name, help=help_text)
        self.add_command(group)
        return group

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if command is None and cmd_name in self.lazy_commands:
            module, _, attribute = self.lazy_commands[cmd_name][0].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            assert isinstance(command, click.Command), self.lazy_commands[cmd_name][0]
            self.commands[cmd_name] = command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click's, but a command not imported yet is listed with its registered help."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            loaded = self.commands.get(name)
            if loaded is None:
                # shortened as click shortens a command's own help
                stand_in = click.Command(name, help=self.lazy_commands[name][1])
                rows.append((name, stand_in.get_short_help_str(limit)))
            elif not loaded.hidden:
                rows.append((name, loaded.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class _NotYet(click.ClickException):
    """Asked for something that cannot be done yet (a period that has not started)."""

    exit_code = 2


class SeatsyncGroup(LazyGroup):
    """The root: turns deliberate errors into one line on stderr and exit code 1 (2 for a period that has not
    started, like click's usage errors: the command was asked for something that cannot be done yet)."""

    #: run once a command is about to run (not for the listing of ``--help``): the console script names the push
    #: engine's run-finished hook there (``seatsync.push.hook_names``), imported only if a run finishes
    before_command: Callable[[], None] | None = None

    def invoke(self, ctx: click.Context) -> Any:
        if self.before_command is not None:
            self.before_command()
        try:
            return super().invoke(ctx)
        except SeatsyncError as exc:
            failure = _NotYet if getattr(exc, "exit_code", 1) == _NotYet.exit_code else click.ClickException
            raise failure(str(exc)) from exc
