"""``seatsync sandbox <system>``: the group each sandbox adds its command to."""

from __future__ import annotations

import click


@click.group()
def sandbox() -> None:
    """Run a standalone simulator of a billing system's API (for trying seatsync, demos and tests)."""
