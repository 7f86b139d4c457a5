"""Commands run in the demo's folder work on the demo's data with no setting at all (issue 17.1, 19.11): the
database and its key file are found beside each other, the Gradient vendor key the demo connected with is sealed
with its token. And a command beside a database encrypted with another key fails, names the key file it tried, and
creates nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from seatsync.cli.main import cli
from seatsync.config import get_settings
from seatsync.db.engine import make_engine, transaction
from seatsync.db.migrate import upgrade
from seatsync.db.models import Integration, PushRun
from seatsync.security.secrets import SecretBox
from seatsync.services import connectwise_connection as cw
from seatsync.services.tenants import create_tenant
from tests.demo.helpers import DemoProcess

#: what a user's shell would not have
SETTINGS = ("SEATSYNC_KEY_FILE", "SEATSYNC_SECRET_KEY", "SEATSYNC_GRADIENT_VENDOR_KEY", "SEATSYNC_DATABASE_URL")


def _seatsync(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "seatsync", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=180
    )


def test_commands_in_the_demo_folder_push_with_no_setting(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    env = {k: v for k, v in subprocess_env.items() if k not in SETTINGS}
    folder = tmp_path / "trying-seatsync"
    folder.mkdir()
    with DemoProcess(env, None, "demo-password", cwd=folder) as demo:
        assert (folder / "seatsync-demo.db").exists() and (folder / "seatsync-demo.key").exists()

        listed = _seatsync(folder, env, "tenant", "list")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.startswith("demo\t"), listed.stdout

        pushed = _seatsync(folder, env, "push", "connectwise", "--tenant", "demo")
        assert "cannot be decrypted" not in pushed.stderr and "key file" not in pushed.stderr, pushed.stderr
        summary = [line for line in pushed.stdout.splitlines() if line.startswith("run ")]
        assert summary and "succeeded" in summary[-1], pushed.stdout + pushed.stderr
        assert pushed.returncode in (0, 1), pushed.stderr  # 1: the demo keeps a row or two that cannot be pushed

        before = len(httpx.get(f"{demo.gradient_url}/_sandbox/state", timeout=10).json()["counts"])
        sent = _seatsync(folder, env, "push", "gradient", "--tenant", "demo")
        assert sent.returncode == 0, sent.stdout + sent.stderr
        after = len(httpx.get(f"{demo.gradient_url}/_sandbox/state", timeout=10).json()["counts"])
        assert after > before, "the CLI's Gradient push reached the demo's sandbox"

        history = _seatsync(folder, env, "history", "--tenant", "demo")
        assert history.returncode == 0, history.stderr
        assert "America/" in history.stdout or "UTC" in history.stdout  # times name the tenant's zone
    # nothing of the default installation was made beside the demo's files
    assert not (folder / "seatsync.db").exists() and not (folder / "seatsync.key").exists()


def _clean_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()


def test_a_command_beside_a_database_of_another_key_fails_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database's secrets were sealed with a key that is not here: the command names the key file it tried,
    writes no new key, and records no run."""
    _clean_settings(monkeypatch)
    folder = tmp_path / "billing"
    folder.mkdir()
    engine = make_engine(f"sqlite:///{folder / 'seatsync.db'}")
    upgrade(engine)
    monkeypatch.setenv("SEATSYNC_KEY_FILE", str(tmp_path / "elsewhere.key"))  # another installation's key
    get_settings.cache_clear()
    with transaction(engine) as session:
        tenant = create_tenant(session, name="Alpha MSP")
        box = SecretBox.for_session(session, get_settings(), sealing=True)
        stored = {"site": "http://127.0.0.1:9", "company_id": "demo", "client_id": "x"}
        secret = box.seal({"public_key": "p", "private_key": "k"})
        session.add(Integration(tenant_id=tenant.id, kind=cw.KIND, status="connected", settings=stored, secret=secret))
    _clean_settings(monkeypatch)
    monkeypatch.chdir(folder)
    before = sorted(p.name for p in folder.iterdir())

    result = CliRunner().invoke(cli, ["push", "connectwise", "--tenant", "alpha-msp"])
    assert result.exit_code == 1, result.output
    assert f"the key file {folder / 'seatsync.key'} does not exist" in result.output, result.output
    assert "no new key was made" in result.output
    assert sorted(p.name for p in folder.iterdir()) == before
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(PushRun)) == 0

    # a key file that is there but is another key: the message names it too, and still no run is recorded
    key = folder / "seatsync.key"
    key.write_text(Fernet.generate_key().decode() + "\n")
    key.chmod(0o600)
    result = CliRunner().invoke(cli, ["push", "connectwise", "--tenant", "alpha-msp"])
    assert result.exit_code == 1, result.output
    assert f"cannot be decrypted with the key file {key}" in result.output, result.output
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(PushRun)) == 0
    engine.dispose()


def test_tenant_list_without_a_database_creates_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_settings(monkeypatch)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["tenant", "list"])
    assert result.exit_code == 1
    assert f"there is no database at {tmp_path / 'seatsync.db'}" in result.output
    assert list(tmp_path.iterdir()) == []


def test_the_demo_database_may_call_its_loopback_sandboxes_with_no_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A command in the demo's folder has none of the demo process's environment: the demo's database alone
    lets it reach the sandboxes on loopback; any other database does not."""
    from seatsync.config import Settings

    monkeypatch.delenv("SEATSYNC_ALLOWED_HOSTS", raising=False)
    demo = Settings(database_url=f"sqlite:///{tmp_path / 'seatsync-demo.db'}")
    assert "127.0.0.0/8" in demo.allowed_hosts
    assert Settings(database_url=f"sqlite:///{tmp_path / 'seatsync.db'}").allowed_hosts == []
    monkeypatch.setenv("SEATSYNC_ALLOWED_HOSTS", "cw.example.net")
    assert Settings(database_url=f"sqlite:///{tmp_path / 'seatsync-demo.db'}").allowed_hosts[0] == "cw.example.net"
