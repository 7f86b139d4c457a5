from __future__ import annotations

from click.testing import CliRunner

from seatsync.cli.main import cli


def test_serve_is_registered() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "--port" in result.output
