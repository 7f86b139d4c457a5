"""HaloPSA mappings: client → subscription checked against the sandbox, creating a subscription, auto-map, the CLI."""

from __future__ import annotations

from datetime import date

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from seatsync.cli.main import cli
from seatsync.db.engine import transaction
from seatsync.db.models import Tenant
from seatsync.errors import Conflict
from seatsync.sandboxes.halopsa import HaloPSASandbox
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services import halopsa_connection, halopsa_mappings, psa_mappings
from tests.foundation.util import csv_bytes, load, make_tenant

COMPANIES = [
    ("acme", "Acme Corporation"),
    ("northwind", "Northwind Traders"),
    ("smith", "Smith & Sons Plumbing"),
    ("zeta", "Zeta Unknown Widgets"),
]


@pytest.fixture
def tenant(engine: Engine, server: BackgroundServer) -> Tenant:
    tenant = make_tenant(engine)
    load(engine, tenant, "companies", csv_bytes("company_id,name", [f"{i},{n}" for i, n in COMPANIES]))
    with transaction(engine) as session:
        result = halopsa_connection.connect(
            session, tenant=tenant, url=server.url, client_id="demo-client", client_secret="demo-secret"
        )
        assert result.status is halopsa_connection.IntegrationStatus.CONNECTED, result.reason
    return tenant


def _client_id(sandbox: HaloPSASandbox, name: str) -> int:
    return next(c["id"] for c in sandbox.clients.values() if c["name"] == name)


def _licences(sandbox: HaloPSASandbox, client_id: int) -> list[dict[str, object]]:
    return [r for r in sandbox.licences.values() if r["client_id"] == client_id]


def test_map_checks_the_chain_and_keeps_history(engine: Engine, tenant: Tenant, sandbox: HaloPSASandbox) -> None:
    acme = _client_id(sandbox, "Acme Corporation")
    globex = _client_id(sandbox, "Globex Logistics")
    acme_licence = _licences(sandbox, acme)[0]
    globex_licence = _licences(sandbox, globex)[0]
    with transaction(engine) as session, halopsa_connection.client_for(session, tenant=tenant) as client:
        saved = halopsa_mappings.set_mapping(
            session, tenant=tenant, company_id="acme", client_id=acme, licence_id=int(acme_licence["id"]), by="ops", client=client
        )  # fmt: skip
        assert (saved.psa_company_name, saved.item_name, saved.contract_id) == (
            "Acme Corporation",
            acme_licence["name"],
            None,
        )
        with pytest.raises(Conflict, match="belongs to HaloPSA client"):
            halopsa_mappings.set_mapping(
                session, tenant=tenant, company_id="acme", client_id=acme, licence_id=int(globex_licence["id"]), by="ops", client=client
            )  # fmt: skip
        with pytest.raises(Conflict, match="HaloPSA has no client 999"):
            halopsa_mappings.set_mapping(
                session, tenant=tenant, company_id="acme", client_id=999, licence_id=None, by="ops", client=client
            )
        history = psa_mappings.mapping_history(session, tenant=tenant, target="halopsa", company_id="acme")
        assert len(history) == 1


def test_create_a_subscription_for_a_company_without_one(
    engine: Engine, tenant: Tenant, sandbox: HaloPSASandbox
) -> None:
    smith = _client_id(sandbox, "Smith & Sons Plumbing")
    assert _licences(sandbox, smith) == []
    with transaction(engine) as session, halopsa_connection.client_for(session, tenant=tenant) as client:
        saved = halopsa_mappings.create_subscription(
            session,
            tenant=tenant,
            company_id="smith",
            client_id=smith,
            name="Smith - Security Awareness",
            item_id=11,
            start_date=date(2026, 11, 1),
            by="ops",
            client=client,
        )
        (created,) = _licences(sandbox, smith)
        assert saved.item_id == str(created["id"])
        assert (created["name"], created["item_id"], created["count"]) == ("Smith - Security Awareness", 11, 0)
        assert str(created["start_date"]).startswith("2026-11-01")
        with pytest.raises(Conflict, match="already has a subscription named"):
            halopsa_mappings.create_subscription(
                session, tenant=tenant, company_id="smith", client_id=smith, name="smith - security awareness",
                item_id=11, start_date=None, by="ops", client=client,
            )  # fmt: skip
        with pytest.raises(Conflict, match="HaloPSA has no item 77"):
            halopsa_mappings.create_subscription(
                session, tenant=tenant, company_id="smith", client_id=smith, name="Other",
                item_id=77, start_date=None, by="ops", client=client,
            )  # fmt: skip
    assert len(_licences(sandbox, smith)) == 1


def test_suggestions_name_the_client_and_its_only_subscription(
    engine: Engine, tenant: Tenant, sandbox: HaloPSASandbox
) -> None:
    with transaction(engine) as session, halopsa_connection.client_for(session, tenant=tenant) as client:
        found = {s.company_id: s for s in halopsa_mappings.suggest(session, tenant=tenant, client=client)}
        assert halopsa_mappings.search_clients(session, tenant=tenant, query="acme")[0].name == "Acme Corporation"
        assert "zeta" not in found
        acme = found["acme"]
        assert acme.client_name == "Acme Corporation" and acme.confidence == 1.0
        assert acme.licence_name == "Acme Corporation - Security Awareness"
        assert found["northwind"].licence_id is None
        assert "2 active subscriptions" in (found["northwind"].note or "")
        assert "no subscription: create one" in (found["smith"].note or "")
        halopsa_mappings.accept(session, tenant=tenant, suggestion=acme, by="ops", client=client)
        again = {s.company_id for s in halopsa_mappings.suggest(session, tenant=tenant, client=client)}
        assert "acme" not in again


def test_cli_map_and_create(engine: Engine, database_url: str, tenant: Tenant, sandbox: HaloPSASandbox) -> None:
    runner = CliRunner()
    acme = _client_id(sandbox, "Acme Corporation")
    licence = _licences(sandbox, acme)[0]["id"]
    base = ["--tenant", tenant.slug, "--database-url", database_url]
    ok = runner.invoke(
        cli, ["map", "halopsa", *base, "--company", "acme", "--client", str(acme), "--licence", str(licence)]
    )
    assert ok.exit_code == 0, ok.output
    assert (
        f"mapping saved for acme: Acme Corporation ({acme}) / Acme Corporation - Security Awareness ({licence})"
        in ok.output
    )
    smith = _client_id(sandbox, "Smith & Sons Plumbing")
    made = runner.invoke(
        cli,
        ["map", "halopsa", *base, "--company", "smith", "--client", str(smith), "--product", "sat",
         "--create-subscription", "Smith SAT", "--item", "11", "--start-date", "2026-11-01"],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "mapping saved for smith (sat): Smith & Sons Plumbing" in made.output
    assert [r["name"] for r in _licences(sandbox, smith)] == ["Smith SAT"]
    both = runner.invoke(
        cli, ["map", "halopsa", *base, "--company", "smith", "--client", str(smith), "--licence", "1", "--create-subscription", "x"]
    )  # fmt: skip
    assert both.exit_code == 2 and "not both" in both.output


def test_cli_map_suggest_halopsa(engine: Engine, database_url: str, tenant: Tenant) -> None:
    runner = CliRunner()
    base = ["--tenant", tenant.slug, "--database-url", database_url]
    shown = runner.invoke(cli, ["map", "suggest", "halopsa", *base, "--format", "csv"])
    assert shown.exit_code == 0, shown.output
    assert "acme,Acme Corporation,Acme Corporation (" in shown.output
    accepted = runner.invoke(cli, ["map", "suggest", "halopsa", *base, "--accept-above", "0.99", "--refresh"])
    assert accepted.exit_code == 0, accepted.output
    with transaction(engine) as session:
        found = psa_mappings.get_mappings(session, tenant=tenant, target="halopsa", company_id="acme")
        assert found[""].item_name == "Acme Corporation - Security Awareness"
