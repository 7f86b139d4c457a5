"""``seatsync connect <system>``: the group each integration adds its command to."""

from __future__ import annotations

import click


@click.group()
def connect() -> None:
    """Store a tenant's credentials for a billing system (encrypted) and check the connection."""
