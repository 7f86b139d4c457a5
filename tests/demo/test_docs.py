"""The documentation says what the code does: every command and option it names exists, every page and API path it
names answers in the running demo, the generated pages are up to date, and its worked examples give what they say."""

from __future__ import annotations

import importlib.util
import io
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import click
import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from seatsync.cli.main import cli
from seatsync.config import get_settings
from seatsync.db.engine import transaction
from seatsync.demo.runner import Demo, DemoInfo, demo_environment
from seatsync.domain.periods import BillingPeriod
from seatsync.domain.rules import Rule
from seatsync.services import billing
from seatsync.services.imports import ImportKind, import_file
from seatsync.services.tenants import create_tenant
from tests.demo.helpers import browser_login

ROOT = Path(__file__).resolve().parents[2]
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
PASSWORD = "docs-test-password"
#: inline code that is a file system path, not a web path
NOT_WEB = ("/etc/", "/opt/", "/usr/", "/var/", "/tmp/", "/path/", "/home/")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _code_segments(text: str) -> Iterator[str]:
    """Inline code spans and the lines of fenced blocks (continuation lines joined, comments dropped)."""
    fenced = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
    for block in fenced.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            yield line.split(" #", 1)[0].strip()
    for span in re.findall(r"`([^`\n]+)`", fenced.sub("", text)):
        yield span.strip()


def _commands() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for path in DOCS:
        for segment in _code_segments(_text(path)):
            segment = segment.removeprefix("$ ")
            if segment == "seatsync" or segment.startswith("seatsync "):
                found.append((path.name, segment))
    return found


def _resolve(words: list[str]) -> tuple[list[str], click.Command]:
    """The longest command path named by ``words`` (after ``seatsync``)."""
    command: click.Command = cli
    path: list[str] = []
    ctx = click.Context(cli)
    for word in words:
        if not isinstance(command, click.Group):
            break
        sub = command.get_command(ctx, word)
        if sub is None:
            break
        command, path = sub, [*path, word]
    return path, command


COMMANDS = _commands()


def test_the_docs_name_commands() -> None:
    assert len(COMMANDS) > 40
    named = {" ".join(_resolve(line.split()[1:])[0]) for _, line in COMMANDS}
    for expected in ("demo", "serve", "migrate", "rotate-key", "connect connectwise", "connect gradient", "import"):
        assert expected in named


@pytest.mark.parametrize(("doc", "line"), COMMANDS, ids=[f"{d}:{c[:60]}" for d, c in COMMANDS])
def test_every_command_and_option_named_exists(doc: str, line: str) -> None:
    words = line.split()[1:]
    path, command = _resolve(words)
    rest = words[len(path) :]
    if isinstance(command, click.Group) and rest and re.fullmatch(r"[a-z][a-z-]*", rest[0]):
        pytest.fail(f"{doc}: `seatsync {' '.join(path)}` has no subcommand {rest[0]!r}")
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)} | {"-h", "--help"}
    for word in rest:
        if word.startswith("--"):
            assert word.split("=", 1)[0] in known, f"{doc}: `seatsync {' '.join(path)}` has no option {word}"
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output


def _load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_cli_and_api_pages_are_up_to_date() -> None:
    cli_docs = _load_script("gen_cli_docs")
    assert _text(ROOT / "docs" / "cli.md") == cli_docs.render(), "run: python scripts/gen_cli_docs.py"
    api_docs = _load_script("gen_api_docs")
    assert _text(ROOT / "docs" / "api.md") == api_docs.render(api_docs.load(None)), (
        "run: python scripts/gen_api_docs.py"
    )


# -- pages and API paths, in the running demo ------------------------------------------------------------------


def _web_paths() -> set[tuple[str, str]]:
    pattern = re.compile(r"^(?:(GET|POST|PUT|PATCH|DELETE) )?(/[A-Za-z0-9_{}./-]*)(?:\?[^ ]*)?$")
    found: set[tuple[str, str]] = set()
    for path in DOCS:
        for span in re.findall(r"`([^`\n]+)`", _text(path)):
            match = pattern.match(span.strip())
            if match and not match.group(2).startswith(NOT_WEB):
                found.add((match.group(1) or "GET", match.group(2)))
    return found


@pytest.fixture(scope="module")
def running_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Demo, DemoInfo]]:
    folder = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{folder / 'demo.db'}"
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {**demo_environment(url), "SEATSYNC_KEY_FILE": str(folder / "demo.key")}.items():
            patch.setenv(key, value)
        get_settings.cache_clear()
        demo = Demo(database_url=url, port=0, password=PASSWORD)
        try:
            yield demo, demo.start()
        finally:
            demo.stop()
            get_settings.cache_clear()


def test_every_page_and_api_path_named_in_the_docs_answers(running_demo: tuple[Demo, DemoInfo]) -> None:
    _, info = running_demo
    named = _web_paths()
    assert ("GET", "/connectwise/billing") in named and ("GET", "/openapi.json") in named
    with browser_login(info.url.rstrip("/"), "admin@demo.local", PASSWORD) as client:
        api = client.get("/openapi.json").json()["paths"]
        run_id = client.get("/api/v1/pushes").json()[0]["id"]  # the demo's first push
        for method, path in sorted(named):
            if path.startswith("/_sandbox/"):
                for base in (info.connectwise_url, info.gradient_url):
                    assert method != "GET" or httpx.get(base + path, timeout=10).status_code == 200, path
                continue
            if path.startswith("/api/"):
                if path not in api and any(p.startswith(path + "/") for p in api):
                    continue  # a prefix, such as /api/v1
                assert method.lower() in api.get(path, {}), f"{method} {path} is not in the API"
                operation = api[path][method.lower()]
                needs = any(p.get("required") for p in operation.get("parameters", []))
                if method != "GET" or needs:
                    continue  # a change, or a query that needs its parameters: that it exists is the docs' claim
            assert method == "GET", f"{method} {path}: the docs name a page action"
            answer = client.get(path.replace("{run_id}", str(run_id)))
            assert answer.status_code < 400, f"GET {path}: {answer.status_code} {answer.text[:200]}"


# -- worked examples -------------------------------------------------------------------------------------------


def _blocks(text: str) -> dict[str, str]:
    """Fenced ``csv NAME`` blocks by name."""
    return dict(re.findall(r"^```csv ([\w.-]+)\n(.*?)^```", text, re.S | re.M))


def _table_rows(text: str, header: str) -> list[list[str]]:
    lines = text[text.index(header) :].splitlines()[2:]
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def test_the_billing_rules_example_gives_the_documented_users(engine: Engine) -> None:
    text = _text(ROOT / "docs" / "billing-rules.md")
    blocks = _blocks(text)
    rows = _table_rows(text, "| time zone | period | rule | acme | globex |")
    assert len(rows) == 8
    tenants = {}
    for zone in sorted({r[0] for r in rows}):
        # one transaction per file, as the CLI imports them
        for kind in (ImportKind.COMPANIES, ImportKind.USERS, ImportKind.ACTIVITY):
            with transaction(engine) as session:
                if zone not in tenants:
                    tenants[zone] = create_tenant(session, name=f"Example {zone}", time_zone_name=zone)
                tenant = session.merge(tenants[zone])
                name = f"{kind.value}.csv"
                import_file(session, tenant=tenant, kind=kind, stream=io.BytesIO(blocks[name].encode()), source=name)
    with transaction(engine) as session:
        for zone, period, rule, acme, globex in rows:
            users = billing.billable_users(
                session, tenant=session.merge(tenants[zone]), period=BillingPeriod.parse(period), rule=Rule(rule)
            )
            got = {c: sorted(u.user_id for u in users if u.company_id == c) for c in ("acme", "globex")}
            expected = {
                c: [u.strip() for u in v.split(",") if u.strip()] for c, v in (("acme", acme), ("globex", globex))
            }
            assert got == expected, (zone, period, rule)


def test_the_rejected_file_example_prints_what_the_formats_page_says(tmp_path: Path) -> None:
    text = _text(ROOT / "docs" / "formats.md")
    companies = re.search(r"^## companies\.csv.*?```csv\n(.*?)^```", text, re.S | re.M)
    bad = _blocks(text)["bad-users.csv"]
    shown = re.search(r"^```text\n(Error: bad-users\.csv.*?)^```", text, re.S | re.M)
    assert companies is not None and shown is not None
    (tmp_path / "companies.csv").write_text(companies.group(1))
    (tmp_path / "bad-users.csv").write_text(bad)
    database = ["--database-url", f"sqlite:///{tmp_path / 'formats.db'}"]
    runner = CliRunner()
    assert runner.invoke(cli, ["tenant", "create", "My MSP", *database]).output.strip() == "my-msp"
    imported = runner.invoke(
        cli, ["import", "companies", str(tmp_path / "companies.csv"), "--tenant", "my-msp", *database]
    )
    assert imported.exit_code == 0, imported.output
    rejected = runner.invoke(cli, ["import", "users", str(tmp_path / "bad-users.csv"), "--tenant", "my-msp", *database])
    assert rejected.exit_code == 1
    assert rejected.output == shown.group(1)
