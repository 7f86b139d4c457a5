"""Autotask mappings: the cached companies, the chain checked against Autotask, auto-map suggestions, the CLI."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from seatsync.cli.main import cli
from seatsync.connectors.autotask import AutotaskClient, eq
from seatsync.db.engine import transaction
from seatsync.db.models import Company, Tenant
from seatsync.errors import Conflict
from seatsync.sandboxes.autotask import (
    DEMO_INTEGRATION_CODE,
    PHISHING_SERVICE,
    SECURITY_AWARENESS_SERVICE,
    AutotaskSandbox,
)
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services import autotask_connection, autotask_mappings, psa_mappings
from tests.foundation.util import companies, make_tenant


def _ids(client: AutotaskClient, name: str) -> tuple[int, int, list[autotask_mappings.ServiceChoice]]:
    company = client.companies([eq("companyName", name)])[0]
    contract = autotask_mappings.contracts(client, at_company=company.id)[0]
    return company.id, contract.id, autotask_mappings.contract_services(client, contract=contract.id)


def test_a_checked_chain_is_saved_with_names(engine: Engine, client: AutotaskClient) -> None:
    tenant = make_tenant(engine)
    companies(engine, tenant, "acme")
    at_company, contract, services = _ids(client, "Acme Corporation")
    assert {s.service_id for s in services} == {SECURITY_AWARENESS_SERVICE, PHISHING_SERVICE}
    training = next(s for s in services if s.service_id == SECURITY_AWARENESS_SERVICE)
    with transaction(engine) as session:
        saved = autotask_mappings.set_mapping(
            session,
            tenant=tenant,
            company_id="acme",
            at_company=at_company,
            contract=contract,
            service=training.id,
            by="ops",
            client=client,
        )
        assert (saved.psa_company_name, saved.contract_name, saved.item_name) == (
            "Acme Corporation",
            "Managed Services - Acme Corporation",
            "Security Awareness Training (per user)",
        )
        # the catalog service's id works too when the contract has it once
        by_catalog = autotask_mappings.set_mapping(
            session,
            tenant=tenant,
            company_id="acme",
            at_company=at_company,
            contract=contract,
            service=PHISHING_SERVICE,
            product="phishing",
            by="ops",
            client=client,
        )
        assert by_catalog.item_name == "Phishing Simulation (per user)"


def test_chains_that_do_not_hold_are_refused(engine: Engine, client: AutotaskClient, sandbox: AutotaskSandbox) -> None:
    tenant = make_tenant(engine)
    companies(engine, tenant, "acme")
    acme, acme_contract, _ = _ids(client, "Acme Corporation")
    initech, initech_contract, initech_services = _ids(client, "Initech")
    globex = client.companies([eq("companyName", "Globex Logistics")])[0].id
    time_and_materials = next(
        c for c in client.company_contracts(globex, recurring_service_only=False) if c.contract_type == 1
    )
    contoso = client.companies([eq("companyName", "Contoso Ltd")])[0].id
    inactive = next(c for c in client.company_contracts(contoso) if not c.active)
    cases = [
        ((acme, initech_contract, None), "belongs to Autotask company"),
        ((globex, time_and_materials.id, None), "not a recurring-service contract"),
        ((contoso, inactive.id, None), "is inactive"),
        ((acme, acme_contract, initech_services[0].id), "has no contract service"),
        ((99, None, None), "Autotask has no company 99"),
        ((acme, None, 5), "choose the contract first"),
    ]
    with transaction(engine) as session:
        for (at_company, contract, service), words in cases:
            with pytest.raises(Conflict, match=words):
                autotask_mappings.set_mapping(
                    session,
                    tenant=tenant,
                    company_id="acme",
                    at_company=at_company,
                    contract=contract,
                    service=service,
                    by="ops",
                    client=client,
                )
        assert psa_mappings.tenant_mappings(session, tenant_id=tenant.id, target="autotask") == {}
    assert initech  # (looked up for its contract)


def test_suggestions_and_the_company_cache(engine: Engine, client: AutotaskClient) -> None:
    tenant = make_tenant(engine)
    companies(engine, tenant, "initech", "acme", "umbrella", "zenith")
    with transaction(engine) as session:
        for company_id, name in (
            ("initech", "Initech"),
            ("acme", "Acme Corp."),
            ("umbrella", "Umbrella Health Partners"),
            ("zenith", "Zenith Pediatrics"),
        ):
            row = session.query(Company).filter_by(tenant_id=tenant.id, company_id=company_id).one()
            row.name = name
    with transaction(engine) as session:
        found = {s.company_id: s for s in autotask_mappings.suggest(session, tenant=tenant, client=client)}
        assert found["initech"].at_company_name == "Initech" and found["initech"].service_id is not None
        assert found["acme"].at_company_name == "Acme Corporation" and found["acme"].service_id is None
        assert "2 services" in (found["acme"].note or "")
        assert "no active recurring-service contract" in (found["umbrella"].note or "")
        assert "zenith" not in found
        cached = autotask_mappings.search_companies(session, tenant=tenant, query="dental")
        assert [c.name for c in cached] == ["Stark Dental Group", "Willow Creek Dental"]
        saved = autotask_mappings.accept(session, tenant=tenant, suggestion=found["initech"], by="ops", client=client)
        assert saved.item_id == str(found["initech"].service_id)
        again = {s.company_id for s in autotask_mappings.suggest(session, tenant=tenant, client=client)}
        assert "initech" not in again


def test_cli_map_autotask(engine: Engine, server: BackgroundServer, client: AutotaskClient, database_url: str) -> None:
    tenant = make_tenant(engine)
    companies(engine, tenant, "initech")
    with transaction(engine) as session:
        autotask_connection.connect(
            session,
            tenant=session.get(Tenant, tenant.id),
            username="demo-api@example.com",
            secret="demo-secret",  # type: ignore[arg-type]
            integration_code=DEMO_INTEGRATION_CODE,
            zone_url=server.url,
        )
    at_company, contract, services = _ids(client, "Initech")
    result = CliRunner().invoke(
        cli,
        [
            "map",
            "autotask",
            "--tenant",
            tenant.slug,
            "--company",
            "initech",
            "--at-company",
            str(at_company),
            "--contract",
            str(contract),
            "--service",
            str(services[0].id),
            "--database-url",
            database_url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        f"mapping saved for initech: Initech ({at_company}) / Managed Services - Initech ({contract})" in result.output
    )
    refused = CliRunner().invoke(
        cli,
        [
            "map",
            "autotask",
            "--tenant",
            tenant.slug,
            "--company",
            "initech",
            "--at-company",
            str(at_company),
            "--contract",
            "1",
            "--database-url",
            database_url,
        ],
    )
    assert refused.exit_code != 0 and "Autotask has no contract 1" in refused.output
    suggested = CliRunner().invoke(
        cli, ["map", "suggest", "autotask", "--tenant", tenant.slug, "--format", "csv", "--database-url", database_url]
    )
    assert suggested.exit_code == 0, suggested.output
    assert suggested.output.startswith("company_id,company,at_company,confidence,contract,service,note")
