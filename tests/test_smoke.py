from click.testing import CliRunner
from sqlalchemy import Engine, inspect

from seatsync.cli.main import cli


def test_schema_has_every_table(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {"tenants", "operators", "companies", "users", "status_events", "activity_events"} <= tables


def test_tenant_create_prints_slug(database_url: str) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["tenant", "create", "Acme IT & Co", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "acme-it-co"
    again = runner.invoke(cli, ["tenant", "create", "Acme IT & Co", "--database-url", database_url])
    assert again.output.strip() == "acme-it-co-2"


def test_unknown_time_zone_is_one_line_exit_1(database_url: str) -> None:
    result = CliRunner().invoke(
        cli, ["tenant", "create", "X", "--time-zone", "Mars/Base", "--database-url", database_url]
    )
    assert result.exit_code == 1
    assert "unknown time zone 'Mars/Base'" in result.output
