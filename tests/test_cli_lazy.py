"""The console script imports a command only when it runs: the help listing comes from the registry in
``seatsync.cli.main``, which must say what each command's own help says."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from seatsync.cli.lazy import LazyGroup
from seatsync.cli.main import cli
from seatsync.db.engine import make_engine
from seatsync.db.migrate import declared_head, head_revision, is_current, upgrade

HEAVY = ("sqlalchemy", "pydantic", "httpx", "fastapi", "alembic", "seatsync.db", "seatsync.services", "seatsync.web")


def _lazy_entries(group: LazyGroup, path: str) -> list[tuple[str, str, str]]:
    found = []
    for name, (target, short_help) in group.lazy_commands.items():
        found.append((f"{path} {name}", target, short_help))
    for name, command in group.commands.items():
        if isinstance(command, LazyGroup) and name not in group.lazy_commands:
            found += _lazy_entries(command, f"{path} {name}")
    return found


def test_each_registered_help_is_the_commands_own() -> None:
    entries = _lazy_entries(cli, "seatsync")
    assert len(entries) > 25
    for path, target, short_help in entries:
        module, _, attribute = target.partition(":")
        command = getattr(__import__(module, fromlist=[attribute]), attribute)
        assert isinstance(command, click.Command), path
        assert command.get_short_help_str(limit=300) == short_help, path


def test_help_lists_the_same_before_and_after_every_command_is_imported() -> None:
    runner = CliRunner()
    before = {group: runner.invoke(cli, [*group, "--help"]).output for group in ((), ("sandbox",), ("push",))}
    for _path, target, _help in _lazy_entries(cli, "seatsync"):
        module, _, attribute = target.partition(":")
        __import__(module, fromlist=[attribute])
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):  # loads each into the group
        command = cli.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            for sub in command.list_commands(ctx):
                assert command.get_command(ctx, sub) is not None
    after = {group: runner.invoke(cli, [*group, "--help"]).output for group in before}
    assert after == before
    assert "billable" in before[()] and "peak" not in before[()]


def test_help_imports_no_database_web_or_http_library(subprocess_env: dict[str, str]) -> None:
    probe = (
        "import sys\n"
        "from seatsync.cli.main import main\n"
        "sys.argv = ['seatsync', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in sys.modules if m.startswith({HEAVY!r})), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=subprocess_env, capture_output=True, text=True, timeout=60, check=True
    )
    assert "Commands:" in done.stdout and "billable" in done.stdout
    assert done.stderr.strip() == "[]"


def test_the_cheap_schema_check_agrees_with_alembic(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'check.db'}")
    try:
        assert declared_head() == head_revision(engine) is not None
        assert not is_current(engine)  # empty: no alembic_version
        upgrade(engine)
        assert is_current(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0001_foundation'"))
        assert not is_current(engine)
    finally:
        engine.dispose()


PUSH_ONLY = ("seatsync.automation", "seatsync.notify", "seatsync.push.engine", "seatsync.connectors", "httpx")


def test_billable_imports_neither_the_push_automation_nor_an_http_client(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    url = f"sqlite:///{tmp_path / 'tiny.db'}"
    (tmp_path / "companies.csv").write_text("company_id,name\na,Alpha\nb,Beta\n")
    (tmp_path / "users.csv").write_text(
        "user_id,company_id,email,name,status,at\n"
        "u1,a,u1@x.io,U1,active,2026-10-01T00:00:00Z\nu2,a,u2@x.io,U2,active,2026-10-02T00:00:00Z\n"
    )
    runner = CliRunner()
    for args in (
        ["tenant", "create", "Tiny"],
        ["import", "companies", str(tmp_path / "companies.csv"), "--tenant", "tiny"],
        ["import", "users", str(tmp_path / "users.csv"), "--tenant", "tiny"],
    ):
        done = runner.invoke(cli, [*args, "--database-url", url])
        assert done.exit_code == 0, done.output
    probe = (
        "import sys\n"
        "from seatsync.cli.main import main\n"
        f"sys.argv = ['seatsync', 'billable', '--tenant', 'tiny', '--period', '2026-10', '--database-url', {url!r}]\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
        f"print(sorted(m for m in sys.modules if m.startswith({PUSH_ONLY!r})), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=subprocess_env, capture_output=True, text=True, timeout=60, check=True
    )
    assert [line.split() for line in done.stdout.splitlines()[2:]] == [
        ["a", "Alpha", "2", "active"],
        ["b", "Beta", "0", "active"],
    ]
    assert done.stderr.strip().splitlines()[-1] == "[]"


def test_every_command_names_the_automation_hook_that_a_finished_run_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seatsync.automation import hooks
    from seatsync.cli.main import main
    from seatsync.push.hook_names import take_named_hooks

    take_named_hooks()
    monkeypatch.setattr(
        sys, "argv", ["seatsync", "tenant", "create", "T", "--database-url", f"sqlite:///{tmp_path / 't.db'}"]
    )
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 0
    named = take_named_hooks()
    assert len(named) == 1
    module, _, attribute = named[0].partition(":")
    assert getattr(importlib.import_module(module), attribute) is hooks.run_finished
