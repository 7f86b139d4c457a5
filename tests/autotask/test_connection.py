"""Connecting to Autotask: the change-free permission check, stored credentials, a failed check keeps working
ones, disconnect; the CLI commands."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import Engine, select

from seatsync.cli.main import cli
from seatsync.connectors.autotask import Permission
from seatsync.db.engine import transaction
from seatsync.db.models import Integration, Tenant
from seatsync.sandboxes.autotask import DEMO_INTEGRATION_CODE, AutotaskSandbox
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services import autotask_connection as at
from seatsync.services.tenants import create_tenant


def _connect(
    engine: Engine, url: str, username: str = "demo-api@example.com", secret: str = "demo-secret"
) -> at.ConnectionResult:
    with transaction(engine) as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == "acme")) or create_tenant(session, name="Acme")
        return at.connect(
            session,
            tenant=tenant,
            username=username,
            secret=secret,
            integration_code=DEMO_INTEGRATION_CODE,
            zone_url=url,
        )


def _row(engine: Engine) -> Integration:
    with transaction(engine) as session:
        row = session.scalar(select(Integration).where(Integration.kind == "autotask"))
        assert row is not None
        session.expunge(row)
        return row


def test_connect_with_every_permission_changes_nothing(
    engine: Engine, server: BackgroundServer, sandbox: AutotaskSandbox
) -> None:
    result = _connect(engine, server.url)
    assert result.status is at.IntegrationStatus.CONNECTED, result.reason
    assert [(c.permission, c.status) for c in result.checks] == [
        (p, at.RightStatus.PRESENT) for p in at.REQUIRED_PERMISSIONS
    ]
    assert sandbox.adjustments == [] and sandbox.tables["ContractNotes"] == {}
    row = _row(engine)
    assert row.status == "connected" and row.connected_at is not None
    assert row.settings == {
        "zone_url": server.url,
        "username": "demo-api@example.com",
        "api_base": f"{server.url}/ATServicesRest/V1.0",
        # the check's permissions, shown on the Integrations page after the form's redirect
        "permissions": [{"permission": c.setting, "status": "present", "detail": c.detail} for c in result.checks],
        "missing_permissions": [],
    }
    assert (
        row.secret is not None and b"demo-secret" not in row.secret and DEMO_INTEGRATION_CODE.encode() not in row.secret
    )
    with transaction(engine) as session:
        tenant = session.scalar(select(Tenant))
        assert tenant is not None
        with at.client_for(session, tenant=tenant) as client:
            assert len(client.companies()) == 34


def test_the_read_only_user_is_told_each_missing_permission(engine: Engine, server: BackgroundServer) -> None:
    result = _connect(engine, server.url, "readonly-api@example.com", "readonly-secret")
    assert result.status is at.IntegrationStatus.BROKEN
    assert result.missing == [Permission.CONTRACT_SERVICES_ADJUST, Permission.CONTRACT_NOTES_ADD]
    assert result.reason is not None
    assert "contract services adjust" in result.reason and "contract notes and attachments add" in result.reason
    assert _row(engine).status == "broken"  # nothing worked before: stored, to re-check after fixing the level


def test_a_failed_check_never_replaces_working_credentials(engine: Engine, server: BackgroundServer) -> None:
    assert _connect(engine, server.url).status is at.IntegrationStatus.CONNECTED
    before = _row(engine)
    failed = _connect(engine, server.url, "demo-api@example.com", "wrong-secret")
    assert failed.status is at.IntegrationStatus.BROKEN and failed.kept_previous
    assert "rejected the API user" in (failed.reason or "")
    after = _row(engine)
    assert (after.secret, after.status, after.settings) == (before.secret, "connected", before.settings)
    unknown = _connect(engine, server.url, "nobody@example.com", "x")
    assert "does not know the API user 'nobody@example.com'" in (unknown.reason or "") and unknown.kept_previous


def test_cli_connect_check_output_and_disconnect(engine: Engine, server: BackgroundServer, database_url: str) -> None:
    with transaction(engine) as session:
        create_tenant(session, name="Acme")
    runner = CliRunner()
    base = ["--database-url", database_url]
    readonly = runner.invoke(
        cli,
        [
            "connect",
            "autotask",
            "--tenant",
            "acme",
            "--username",
            "readonly-api@example.com",
            "--secret",
            "readonly-secret",
            "--integration-code",
            DEMO_INTEGRATION_CODE,
            "--zone-url",
            server.url,
            *base,
        ],
    )
    assert readonly.exit_code == 1
    assert "missing   contract services adjust" in readonly.output
    assert "missing   contract notes and attachments add" in readonly.output
    ok = runner.invoke(
        cli,
        [
            "connect",
            "autotask",
            "--tenant",
            "acme",
            "--username",
            "demo-api@example.com",
            "--secret",
            "demo-secret",
            "--integration-code",
            DEMO_INTEGRATION_CODE,
            "--zone-url",
            server.url,
            *base,
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert "connected: acme -> Autotask as demo-api@example.com" in ok.output
    gone = runner.invoke(cli, ["disconnect", "autotask", "--tenant", "acme", *base])
    assert gone.exit_code == 0 and "secret is forgotten" in gone.output
    row = _row(engine)
    assert row.secret is None and row.status == "disconnected"
