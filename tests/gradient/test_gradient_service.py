"""Connect, account sync and disconnect against the sandbox over real sockets, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from seatsync.cli.main import cli
from seatsync.connectors.gradient import NewAccount, NotMappedInGradient
from seatsync.connectors.limits import Unlimited
from seatsync.db.engine import transaction
from seatsync.db.models import Company, Integration
from seatsync.errors import AuthenticationFailed, ConfigurationError
from seatsync.services import gradient as svc
from seatsync.services.tenants import create_tenant, get_tenant

TOKEN = "demo-partner"
VENDOR = "demo-vendor"


@pytest.fixture(autouse=True)
def _vendor_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from seatsync.config import get_settings

    monkeypatch.setenv("SEATSYNC_GRADIENT_VENDOR_KEY", VENDOR)
    get_settings.cache_clear()


def add_companies(engine: Engine, slug: str, *rows: tuple[str, str] | tuple[str, str, bool]) -> None:
    with transaction(engine) as session:
        tenant = get_tenant(session, slug=slug)
        for row in rows:
            session.add(Company(tenant_id=tenant.id, company_id=row[0], name=row[1], archived=len(row) > 2 and row[2]))


@pytest.fixture
def tenant_slug(engine: Engine) -> str:
    with transaction(engine) as session:
        slug = create_tenant(session, name="Acme MSP", time_zone_name="America/Chicago").slug
    add_companies(
        engine, slug, ("c-1", "Initech"), ("c-2", "Globex Industries"), ("c-3", "Hooli"), ("c-9", "Gone", True)
    )
    return slug


def connect(engine: Engine, slug: str, url: str, token: str = TOKEN) -> svc.ConnectResult:
    with transaction(engine) as session:
        tenant = get_tenant(session, slug=slug)
        return svc.connect(session, tenant=tenant, token=token, url=url, limiter=Unlimited())


def sync(engine: Engine, slug: str) -> svc.SyncReport:
    with transaction(engine) as session:
        tenant = get_tenant(session, slug=slug)
        with svc.client_for(session, tenant=tenant, limiter=Unlimited()) as client:
            return svc.sync_accounts(session, tenant=tenant, client=client)


def integration(engine: Engine, slug: str) -> Integration:
    with transaction(engine) as session:
        found = svc.get_integration(session, tenant=get_tenant(session, slug=slug))
        assert found is not None
        return found


def test_connect_registers_services_sets_pending_and_syncs_accounts(
    engine: Engine, tenant_slug: str, gradient: Any
) -> None:
    result = connect(engine, tenant_slug, gradient.url)
    assert result.organization_name == "Demo MSP"
    assert result.services_created == ["Security Awareness Training", "Phishing Simulation"]
    assert result.sync is not None
    assert result.sync.created == ["c-1", "c-2", "c-3"]
    assert result.sync_error is None

    state = gradient.sandbox.state()
    assert state["status"] == "pending"
    assert {(s["name"], s["category"], s["subcategory"]) for s in state["services"]} == {
        ("Security Awareness Training", "security", "privacy and security awareness training"),
        ("Phishing Simulation", "security", "phishing simulation"),
    }
    assert {a["id"]: a["name"] for a in state["accounts"]} == {
        "c-1": "Initech",
        "c-2": "Globex Industries",
        "c-3": "Hooli",
    }

    row = integration(engine, tenant_slug)
    assert row.kind == "gradient"
    assert row.status == svc.ConnectionStatus.PENDING
    by_name = {s["name"]: s["id"] for s in state["services"]}
    assert svc.service_ids(row) == {
        "sat": by_name["Security Awareness Training"],
        "phishing": by_name["Phishing Simulation"],
    }
    assert row.settings["url"] == gradient.url
    assert row.settings["organization"]["name"] == "Demo MSP"
    assert row.secret is not None
    assert TOKEN.encode() not in row.secret


def test_reconnect_creates_no_duplicate_services_or_accounts(engine: Engine, tenant_slug: str, gradient: Any) -> None:
    first = connect(engine, tenant_slug, gradient.url)
    again = connect(engine, tenant_slug, gradient.url)
    assert again.services_created == []
    assert again.services_found == first.services_created
    assert again.sync is not None
    assert again.sync.created == []
    assert again.sync.unchanged == ["c-1", "c-2", "c-3"]
    state = gradient.sandbox.state()
    assert len(state["services"]) == 2
    assert len(state["accounts"]) == 3
    with transaction(engine) as session:
        assert len(list(session.scalars(select(Integration)))) == 1


def test_a_company_added_after_connect_appears_after_sync_and_renames_follow(
    engine: Engine, tenant_slug: str, gradient: Any
) -> None:
    connect(engine, tenant_slug, gradient.url)
    add_companies(engine, tenant_slug, ("c-4", "Umbrella Health"))
    with transaction(engine) as session:
        company = session.scalar(select(Company).where(Company.company_id == "c-2"))
        assert company is not None
        company.name = "Globex Corporation"
    report = sync(engine, tenant_slug)
    assert (report.created, report.renamed, report.unchanged) == (["c-4"], ["c-2"], ["c-1", "c-3"])
    assert report.summary() == "1 created, 1 renamed, 2 unchanged"
    accounts = {a["id"]: a for a in gradient.sandbox.state()["accounts"]}
    assert accounts["c-4"]["name"] == "Umbrella Health"
    assert accounts["c-4"]["isMapped"]
    assert accounts["c-2"]["name"] == "Globex Corporation"
    assert "c-9" not in accounts  # archived companies are not sent
    assert integration(engine, tenant_slug).settings["accounts_synced_at"]


def test_accounts_are_created_in_batches(engine: Engine, tenant_slug: str, gradient: Any) -> None:
    add_companies(engine, tenant_slug, *[(f"b-{i:03d}", f"Batch {i}") for i in range(250)])
    posts: list[int] = []

    class Recording(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "POST" and request.url.path.endswith("/accounts"):
                posts.append(request.content.count(b'"id"'))
            return super().handle_request(request)

    with transaction(engine) as session:
        tenant = get_tenant(session, slug=tenant_slug)
        result = svc.connect(
            session, tenant=tenant, token=TOKEN, url=gradient.url, transport=Recording(), limiter=Unlimited()
        )
    assert result.sync is not None
    assert len(result.sync.created) == 253
    assert posts == [100, 100, 53]


def test_accounts_gradient_already_has_are_not_lost_on_409(engine: Engine, tenant_slug: str, gradient: Any) -> None:
    """The answer of a bulk create is lost (dropped connection); the retry meets 409; the sync still completes."""
    calls = {"post": 0}

    class DropFirstAnswer(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = super().handle_request(request)
            if request.method == "POST" and request.url.path.endswith("/accounts"):
                calls["post"] += 1
                if calls["post"] == 1:
                    response.close()
                    raise httpx.ReadError("connection reset by peer")
            return response

    with transaction(engine) as session:
        tenant = get_tenant(session, slug=tenant_slug)
        result = svc.connect(
            session, tenant=tenant, token=TOKEN, url=gradient.url, transport=DropFirstAnswer(), limiter=Unlimited()
        )
    assert result.sync is not None
    assert result.sync_error is None
    assert result.sync.already_present == ["c-1", "c-2", "c-3"]
    assert sorted(a["id"] for a in gradient.sandbox.state()["accounts"]) == ["c-1", "c-2", "c-3"]


def test_an_upserting_gradient_works_too(engine: Engine, tenant_slug: str, gradient: Any) -> None:
    """The other reading of the reference: POSTing an existing id updates it. Listing first keeps us correct."""
    sandbox = gradient.sandbox
    original = sandbox.create_accounts

    def upsert(org: Any, body: Any) -> Any:
        for item in body:
            org.accounts.pop(str(item["id"]), None)
        return original(org, body)

    sandbox.create_accounts = upsert
    connect(engine, tenant_slug, gradient.url)
    add_companies(engine, tenant_slug, ("c-5", "Five"))
    assert sync(engine, tenant_slug).created == ["c-5"]
    assert len(sandbox.state()["accounts"]) == 4


def test_a_refused_token_stores_nothing(engine: Engine, tenant_slug: str, gradient: Any) -> None:
    with pytest.raises(AuthenticationFailed, match="partner token was rejected or expired"):
        connect(engine, tenant_slug, gradient.url, token="wrong")
    with transaction(engine) as session:
        assert session.scalar(select(Integration)) is None
    assert gradient.sandbox.state()["status"] == "inactive"


def test_401_during_sync_marks_the_integration_broken(engine: Engine, tenant_slug: str, gradient: Any) -> None:
    connect(engine, tenant_slug, gradient.url)
    gradient.sandbox.revoke(TOKEN)  # the MSP regenerated its key in Synthesize
    with transaction(engine) as session:
        tenant = get_tenant(session, slug=tenant_slug)
        with svc.client_for(session, tenant=tenant, limiter=Unlimited()) as client, pytest.raises(AuthenticationFailed):
            svc.sync_accounts(session, tenant=tenant, client=client)
    row = integration(engine, tenant_slug)
    assert row.status == svc.ConnectionStatus.BROKEN
    assert row.status_reason
    assert "partner token was rejected" in row.status_reason
    # a new token repairs it
    gradient.sandbox.add_partner(VENDOR, "new-token", name="Demo MSP")
    connect(engine, tenant_slug, gradient.url, token="new-token")
    assert integration(engine, tenant_slug).status == svc.ConnectionStatus.PENDING


def test_an_unmapped_account_is_not_mapped_and_a_mapped_one_takes_counts(
    engine: Engine, tenant_slug: str, gradient: Any
) -> None:
    connect(engine, tenant_slug, gradient.url)
    ids = svc.service_ids(integration(engine, tenant_slug))
    with transaction(engine) as session:
        tenant = get_tenant(session, slug=tenant_slug)
        with svc.client_for(session, tenant=tenant, limiter=Unlimited()) as client:
            client.set_unit_count(ids["sat"], "c-1", 12, no_build=True)  # "Initech" is a PSA company: auto-mapped
            with pytest.raises(NotMappedInGradient) as info:
                client.set_unit_count(ids["sat"], "c-3", 4, no_build=False)  # "Hooli" is not
    assert info.value.account_id == "c-3"
    assert gradient.sandbox.latest_counts() == {("c-1", ids["sat"]): 12}
    assert gradient.sandbox.state()["status"] == "active"


def test_disconnect_sets_inactive_and_forgets_the_token(engine: Engine, tenant_slug: str, gradient: Any) -> None:
    connect(engine, tenant_slug, gradient.url)
    with transaction(engine) as session:
        assert svc.disconnect(session, tenant=get_tenant(session, slug=tenant_slug), limiter=Unlimited()) is None
    row = integration(engine, tenant_slug)
    assert row.status == svc.ConnectionStatus.DISCONNECTED
    assert row.secret is None
    assert gradient.sandbox.state()["status"] == "inactive"
    with transaction(engine) as session, pytest.raises(ConfigurationError, match="not connected"):
        svc.client_for(session, tenant=get_tenant(session, slug=tenant_slug))


def test_disconnect_still_forgets_the_token_when_gradient_refuses(
    engine: Engine, tenant_slug: str, gradient: Any
) -> None:
    connect(engine, tenant_slug, gradient.url)
    gradient.sandbox.revoke(TOKEN)
    with transaction(engine) as session:
        note = svc.disconnect(session, tenant=get_tenant(session, slug=tenant_slug), limiter=Unlimited())
    assert note
    assert "could not be told" in note
    assert integration(engine, tenant_slug).secret is None


def test_missing_vendor_key_is_a_configuration_error(
    engine: Engine, tenant_slug: str, gradient: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seatsync.config import get_settings

    monkeypatch.delenv("SEATSYNC_GRADIENT_VENDOR_KEY")
    get_settings.cache_clear()
    with pytest.raises(ConfigurationError, match="SEATSYNC_GRADIENT_VENDOR_KEY"):
        connect(engine, tenant_slug, gradient.url)


def test_cli_connect_and_sync_accounts(database_url: str, engine: Engine, tenant_slug: str, gradient: Any) -> None:
    runner = CliRunner()
    connected = runner.invoke(
        cli,
        [
            "connect",
            "gradient",
            "--tenant",
            tenant_slug,
            "--token",
            TOKEN,
            "--url",
            gradient.url,
            "--database-url",
            database_url,
        ],
    )
    assert connected.exit_code == 0, connected.output
    assert "connected to Gradient organization Demo MSP (status pending)" in connected.output
    assert "accounts: 3 created, 0 renamed, 0 unchanged" in connected.output
    assert TOKEN not in connected.output

    add_companies(engine, tenant_slug, ("c-7", "Seven"))
    synced = runner.invoke(cli, ["sync-accounts", "--tenant", tenant_slug, "--database-url", database_url])
    assert synced.exit_code == 0, synced.output
    assert synced.output.strip() == "accounts: 1 created, 0 renamed, 3 unchanged"

    gradient.sandbox.revoke(TOKEN)
    broken = runner.invoke(cli, ["sync-accounts", "--tenant", tenant_slug, "--database-url", database_url])
    assert broken.exit_code == 1
    assert "partner token was rejected or expired" in broken.output
    assert integration(engine, tenant_slug).status == svc.ConnectionStatus.BROKEN  # the mark was committed


def test_cli_sync_accounts_without_connection_says_how_to_connect(
    database_url: str, engine: Engine, tenant_slug: str
) -> None:
    result = CliRunner().invoke(cli, ["sync-accounts", "--tenant", tenant_slug, "--database-url", database_url])
    assert result.exit_code == 1
    assert f"seatsync connect gradient --tenant {tenant_slug}" in result.output


def test_after_the_partner_disconnects_a_new_connection_recreates_the_accounts(
    engine: Engine, tenant_slug: str, gradient: Any
) -> None:
    connect(engine, tenant_slug, gradient.url)
    gradient.sandbox.partner_disconnects()  # Gradient deletes the accounts
    with transaction(engine) as session:
        svc.disconnect(session, tenant=get_tenant(session, slug=tenant_slug), limiter=Unlimited())
    again = connect(engine, tenant_slug, gradient.url)
    assert again.sync is not None
    assert again.sync.created == ["c-1", "c-2", "c-3"]
    assert again.services_created == []  # services belong to the vendor and survive
    assert gradient.sandbox.state()["status"] == "pending"


def test_accounts_gradient_has_that_are_not_companies_are_left_alone(
    engine: Engine, tenant_slug: str, gradient: Any
) -> None:
    with gradient.client() as client:
        client.create_accounts([NewAccount(id="legacy-7", name="Legacy")])
    result = connect(engine, tenant_slug, gradient.url)
    assert result.sync is not None
    assert result.sync.created == ["c-1", "c-2", "c-3"]
    names = {a["id"]: a["name"] for a in gradient.sandbox.state()["accounts"]}
    assert names["legacy-7"] == "Legacy"
