"""Acceptance 4 and stored credentials: connect, the change-free rights check, client_for, disconnect, rotate-key."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Engine, select

from seatsync.cli.main import cli
from seatsync.config import get_settings
from seatsync.connectors.connectwise import Right
from seatsync.db.engine import transaction
from seatsync.db.models import Integration, Tenant
from seatsync.errors import ConfigurationError
from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services import connectwise_connection as cw
from seatsync.services.secrets import rotate_key
from seatsync.services.tenants import create_tenant

CLIENT_ID = "3f1c2a4e-0000-4000-8000-000000000001"


def _connect(
    engine: Engine, url: str, public: str = "demo-public", private: str = "demo-private"
) -> cw.ConnectionResult:
    with transaction(engine) as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == "acme")) or create_tenant(session, name="Acme")
        return cw.connect(
            session,
            tenant=tenant,
            site=url,
            company_id="demo",
            public_key=public,
            private_key=private,
            client_id=CLIENT_ID,
        )


def _tenant(session: object) -> Tenant:
    found = session.scalar(select(Tenant).where(Tenant.slug == "acme"))  # type: ignore[attr-defined]
    assert found is not None
    return found


def test_connect_with_every_right(engine: Engine, server: BackgroundServer, sandbox: ConnectWiseSandbox) -> None:
    result = _connect(engine, server.url)
    assert result.status is cw.IntegrationStatus.CONNECTED
    assert [(c.right, c.status) for c in result.checks] == [(r, cw.RightStatus.PRESENT) for r in cw.REQUIRED_RIGHTS]
    assert sandbox.changes == []
    assert sandbox.documents == {}
    with transaction(engine) as session:
        row = session.scalar(select(Integration))
        assert row is not None
        assert row.kind == "connectwise"
        assert row.status == "connected"
        assert row.connected_at is not None
        rights = row.settings.pop("rights")
        assert {r["status"] for r in rights} == {"present"} and len(rights) >= 5, rights
        assert row.settings == {
            "site": server.url,
            "company_id": "demo",
            "client_id": CLIENT_ID,
            "codebase": "v2025_1/",
            "missing_rights": [],
        }
        assert row.secret is not None
        assert b"demo-private" not in row.secret
        with cw.client_for(session, tenant=_tenant(session)) as client:
            assert len(client.list_companies()) == len(sandbox.companies)
            assert "demo-private" not in repr(client)
            with cw.client_for(session, tenant=_tenant(session)) as other:
                assert other.rate_limiter is client.rate_limiter  # one limiter per tenant


def test_readonly_member_reports_exactly_the_missing_rights(
    engine: Engine, server: BackgroundServer, sandbox: ConnectWiseSandbox
) -> None:
    result = _connect(engine, server.url, "readonly-public", "readonly-private")
    assert result.status is cw.IntegrationStatus.BROKEN
    assert result.missing == [Right.AGREEMENTS_EDIT, Right.ATTACHMENTS_ADD]
    assert {c.right: c.status for c in result.checks if c.right not in result.missing} == {
        Right.COMPANY_INQUIRE: cw.RightStatus.PRESENT,
        Right.AGREEMENTS_INQUIRE: cw.RightStatus.PRESENT,
        Right.ATTACHMENTS_INQUIRE: cw.RightStatus.PRESENT,
    }
    assert "Finance › Agreements › Edit" in (result.reason or "")
    assert sandbox.changes == []
    assert sandbox.documents == {}


def test_member_lacking_only_agreements_edit(
    engine: Engine, server: BackgroundServer, sandbox: ConnectWiseSandbox
) -> None:
    sandbox.add_member("noedit-public", "noedit-private", lacking=(Right.AGREEMENTS_EDIT,))
    result = _connect(engine, server.url, "noedit-public", "noedit-private")
    assert result.missing == [Right.AGREEMENTS_EDIT]


def test_a_right_that_cannot_be_probed_is_reported_unchecked(engine: Engine) -> None:
    sandbox = ConnectWiseSandbox(seed=None)
    company = sandbox.add_company("Lonely Co")
    sandbox.add_agreement(company["id"])  # an agreement without additions: nothing to probe the edit right on
    from seatsync.sandboxes.connectwise import create_app

    with BackgroundServer(create_app(sandbox)) as server:
        result = _connect(engine, server.url)
    edit = next(c for c in result.checks if c.right is Right.AGREEMENTS_EDIT)
    assert edit.status is cw.RightStatus.UNCHECKED
    assert "cannot be checked without a change" in edit.detail
    assert result.status is cw.IntegrationStatus.CONNECTED  # nothing is known to be missing


def test_rejected_credentials_are_stored_as_broken(engine: Engine, server: BackgroundServer) -> None:
    result = _connect(engine, server.url, "demo-public", "wrong-private")
    assert result.status is cw.IntegrationStatus.BROKEN
    assert "refused the credentials" in (result.reason or "")
    assert "wrong-private" not in (result.reason or "")


def test_client_for_and_disconnect(engine: Engine, server: BackgroundServer) -> None:
    with transaction(engine) as session:
        tenant = create_tenant(session, name="Acme")
        with pytest.raises(ConfigurationError, match="not connected"):
            cw.client_for(session, tenant=tenant)
    _connect(engine, server.url)
    with transaction(engine) as session:
        cw.disconnect(session, tenant=_tenant(session))
        row = session.scalar(select(Integration))
        assert row is not None
        assert row.secret is None
        assert row.status == "disconnected"
        with pytest.raises(ConfigurationError):
            cw.client_for(session, tenant=_tenant(session))


def test_rotate_key_with_a_key_file(engine: Engine, server: BackgroundServer) -> None:
    _connect(engine, server.url)
    settings = get_settings()
    old_key = settings.key_file.read_text().strip()
    result = rotate_key(engine, settings=settings)
    assert result.rotated == 1
    assert result.key_file == settings.key_file
    new_key = settings.key_file.read_text().strip()
    assert new_key != old_key
    assert "\n" not in new_key
    assert settings.key_file.stat().st_mode & 0o777 == 0o600
    with transaction(engine) as session:
        row = session.scalar(select(Integration))
        assert row is not None
        assert row.secret is not None
        with pytest.raises(InvalidToken):
            Fernet(old_key.encode()).decrypt(row.secret)
        with cw.client_for(session, tenant=_tenant(session)) as client:
            assert client.system_info().version


def test_rotate_key_with_the_environment_variable(
    engine: Engine, server: BackgroundServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_key = Fernet.generate_key().decode()
    monkeypatch.setenv("SEATSYNC_SECRET_KEY", old_key)
    get_settings.cache_clear()
    _connect(engine, server.url)
    result = rotate_key(engine, settings=get_settings())
    assert result.key_file is None
    assert result.new_environment_value is not None
    new_key, kept = result.new_environment_value.split(",")
    assert kept == old_key
    assert "SEATSYNC_SECRET_KEY=" in result.instructions()
    monkeypatch.setenv("SEATSYNC_SECRET_KEY", new_key)
    get_settings.cache_clear()
    with transaction(engine) as session, cw.client_for(session, tenant=_tenant(session)) as client:
        assert client.system_info().version


def test_cli_connect_prints_each_right(database_url: str, server: BackgroundServer) -> None:
    runner = CliRunner()
    base = ["--database-url", database_url]
    assert runner.invoke(cli, ["tenant", "create", "Acme", *base]).output.strip() == "acme"
    args = [
        "connect",
        "connectwise",
        "--tenant",
        "acme",
        "--site",
        server.url,
        "--company-id",
        "demo",
        "--client-id",
        CLIENT_ID,
        *base,
    ]
    ok = runner.invoke(cli, [*args, "--public-key", "demo-public", "--private-key", "demo-private"])
    assert ok.exit_code == 0, ok.output
    assert ok.output.count("present") == 5
    assert "connected" in ok.output
    refused = runner.invoke(cli, [*args, "--public-key", "readonly-public", "--private-key", "readonly-private"])
    assert refused.exit_code == 1
    missing = [line for line in refused.output.splitlines() if line.startswith("missing")]
    assert len(missing) == 2
    assert "Finance › Agreements › Edit" in missing[0]
    assert "Manage Attachments › Add" in missing[1]
    assert "readonly-private" not in refused.output
