"""Connecting HaloPSA: the change-free permission check (scope AND agent), stored secrets, client_for, disconnect."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from seatsync.cli.main import cli
from seatsync.connectors.halopsa import Permission
from seatsync.db.engine import transaction
from seatsync.db.models import Integration, Tenant
from seatsync.errors import ConfigurationError
from seatsync.sandboxes.halopsa import HaloPSASandbox
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services import halopsa_connection as halo
from seatsync.services.tenants import create_tenant


def _connect(
    engine: Engine, url: str, client_id: str = "demo-client", secret: str = "demo-secret", **kw: str
) -> halo.ConnectionResult:
    with transaction(engine) as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == "acme")) or create_tenant(session, name="Acme")
        return halo.connect(session, tenant=tenant, url=url, client_id=client_id, client_secret=secret, **kw)


def _row(engine: Engine) -> Integration:
    with transaction(engine) as session:
        row = session.scalar(select(Integration).where(Integration.kind == "halopsa"))
        assert row is not None
        session.expunge(row)
        return row


def test_connect_with_every_permission_changes_nothing(
    engine: Engine, server: BackgroundServer, sandbox: HaloPSASandbox
) -> None:
    result = _connect(engine, server.url, halo_tenant="demo")
    assert result.status is halo.IntegrationStatus.CONNECTED, result.reason
    assert [(c.permission, c.status) for c in result.checks] == [
        (p, halo.RightStatus.PRESENT) for p in halo.REQUIRED_PERMISSIONS
    ]
    assert sandbox.changes == []  # the edit probe saved a subscription exactly as it was
    assert sandbox.request_counts["POST /api/SoftwareLicence"] == 1
    row = _row(engine)
    assert row.settings == {
        "url": server.url,
        "auth_url": server.url + "/auth",
        "halo_tenant": "demo",
        "client_id": "demo-client",
        # the check's permissions, shown on the Integrations page after the form's redirect
        "permissions": [
            {"permission": c.setting, "scope": c.permission.value, "status": "present", "detail": c.detail}
            for c in result.checks
        ],
        "missing_permissions": [],
    }
    assert row.secret is not None and b"demo-secret" not in row.secret
    with transaction(engine) as session:
        tenant = session.scalar(select(Tenant))
        assert tenant is not None
        with halo.client_for(session, tenant=tenant) as client:
            assert client.halo_tenant == "demo"
            assert len(client.list_customers()) > 30


def test_read_only_application_is_told_the_missing_scope(engine: Engine, server: BackgroundServer) -> None:
    result = _connect(engine, server.url, "readonly-client", "readonly-secret")
    assert result.status is halo.IntegrationStatus.BROKEN
    assert result.missing == [Permission.EDIT_LICENCES]
    assert "edit software licensing" in (result.reason or "")
    assert "lacks the scope edit:softwarelicensing" in (result.reason or "")
    assert result.stored  # nothing worked before: stored, to check again once fixed


def test_the_agents_rights_are_named_when_the_scope_is_there(
    engine: Engine, server: BackgroundServer, sandbox: HaloPSASandbox
) -> None:
    sandbox.add_application(
        "agent-app", "agent-secret", scopes="all", agent={"customers": "read", "softwarelicensing": "read"}
    )
    result = _connect(engine, server.url, "agent-app", "agent-secret")
    assert result.missing == [Permission.READ_ITEMS, Permission.EDIT_LICENCES]
    reason = result.reason or ""
    assert "login agent read access to Products (Items)" in reason
    assert "Software Licensing access level Read and Modify" in reason


def test_empty_sandbox_probes_edit_with_an_empty_save(
    engine: Engine, server: BackgroundServer, sandbox: HaloPSASandbox
) -> None:
    sandbox.reset("empty")
    result = _connect(engine, server.url)
    assert result.status is halo.IntegrationStatus.CONNECTED
    assert "empty save" in result.checks[-1].detail


def test_a_failed_check_never_replaces_working_credentials(engine: Engine, server: BackgroundServer) -> None:
    assert _connect(engine, server.url).status is halo.IntegrationStatus.CONNECTED
    before = _row(engine)
    failed = _connect(engine, server.url, "demo-client", "wrong-secret")
    assert failed.status is halo.IntegrationStatus.BROKEN and not failed.stored
    assert "working ones are kept" in (failed.reason or "")
    after = _row(engine)
    assert after.secret == before.secret and after.status == "connected"
    readonly = _connect(engine, server.url, "readonly-client", "readonly-secret")
    assert not readonly.stored and _row(engine).settings["client_id"] == "demo-client"


def test_cli_connect_check_and_disconnect(engine: Engine, database_url: str, server: BackgroundServer) -> None:
    with transaction(engine) as session:
        create_tenant(session, name="Acme")
    runner = CliRunner()
    base = ["--database-url", database_url]
    ok = runner.invoke(
        cli,
        ["connect", "halopsa", "--tenant", "acme", "--url", server.url, "--client-id", "demo-client",
         "--client-secret", "demo-secret", *base],
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert "present   edit software licensing (edit:softwarelicensing)" in ok.output
    assert f"connected: acme -> HaloPSA at {server.url}" in ok.output
    refused = runner.invoke(
        cli,
        ["connect", "halopsa", "--tenant", "acme", "--url", server.url, "--client-id", "readonly-client",
         "--client-secret", "readonly-secret", *base],
    )  # fmt: skip
    assert refused.exit_code == 1
    assert "missing   edit software licensing" in refused.output
    assert "working ones are kept" in refused.output
    gone = runner.invoke(cli, ["disconnect", "halopsa", "--tenant", "acme", *base])
    assert gone.exit_code == 0 and "client secret is forgotten" in gone.output
    row = _row(engine)
    assert row.secret is None and row.status == "disconnected"
    with transaction(engine) as session:
        tenant = session.scalar(select(Tenant))
        assert tenant is not None
        with pytest.raises(ConfigurationError, match="seatsync connect halopsa"):
            halo.client_for(session, tenant=tenant)
