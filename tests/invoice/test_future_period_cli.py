"""A period that has not started is refused on the CLI (exit 2) and nothing is sent: the sandbox is unchanged."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner

from seatsync.cli.main import cli
from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from tests.push.conftest import World
from tests.push.test_cli import connect


def _records(sandbox: ConnectWiseSandbox) -> dict[str, Any]:
    state = sandbox.state()
    return {k: state[k] for k in ("companies", "agreements", "additions", "catalog", "documents", "changes")}


def test_a_future_period_is_refused_with_exit_2_and_nothing_sent(world: World, database_url: str) -> None:
    connect(world)
    before = _records(world.sandbox)
    for extra in ([], ["--dry-run"], ["--force"]):
        result = CliRunner().invoke(
            cli,
            ["push", "connectwise", "--tenant", world.tenant.slug, "--period", "2031-05", *extra,
             "--database-url", database_url],
        )  # fmt: skip
        assert result.exit_code == 2, result.output
        assert "2031-05" in result.output and "not started" in result.output
    assert _records(world.sandbox) == before
    assert world.requests("PATCH", "/") == 0
    assert world.requests("POST", "/") == 0
