"""The shared PSA mapping model: per company, PSA and product; one kind per company; every change kept."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from seatsync.db.engine import transaction
from seatsync.errors import NotFound, UserInputError
from seatsync.services import psa_mappings
from seatsync.services.psa_mappings import MappingValues, RemoteCompany
from tests.foundation.util import companies, make_tenant


def test_mappings_per_product_replace_an_all_products_item_and_keep_history(engine: Engine) -> None:
    tenant = make_tenant(engine)
    companies(engine, tenant, "acme", "globex")
    chain = MappingValues("29683", "Acme", "7", "Acme SAT", "11", "Seats")
    with transaction(engine) as session:
        psa_mappings.save_mapping(
            session, tenant=tenant, target="autotask", company_id="acme", values=chain, by="ops@msp.example"
        )
        # saving the same chain again records nothing new
        psa_mappings.save_mapping(
            session, tenant=tenant, target="autotask", company_id="acme", values=chain, by="ops@msp.example"
        )
    with transaction(engine) as session:
        psa_mappings.save_mapping(
            session,
            tenant=tenant,
            target="autotask",
            company_id="acme",
            product="phishing",
            values=MappingValues("29683", "Acme", "7", "Acme SAT", "12", "Phishing seats"),
            by="ops@msp.example",
        )
    with transaction(engine) as session:
        found = psa_mappings.get_mappings(session, tenant=tenant, target="autotask", company_id="acme")
        assert set(found) == {"phishing"}
        assert found["phishing"].item_id == "12"
        # another PSA's mapping of the same company is its own
        assert psa_mappings.get_mappings(session, tenant=tenant, target="halopsa", company_id="acme") == {}
        history = psa_mappings.mapping_history(session, tenant=tenant, target="autotask", company_id="acme")
        assert [(h.product, h.before is None, h.after is None) for h in history] == [
            ("phishing", True, False),
            ("", False, True),
            ("", True, False),
        ]
        assert psa_mappings.clear_mapping(session, tenant=tenant, target="autotask", company_id="acme", by="x") == 1
        assert psa_mappings.tenant_mappings(session, tenant_id=tenant.id, target="autotask") == {}


def test_bad_products_companies_and_chains_are_refused(engine: Engine) -> None:
    tenant = make_tenant(engine)
    companies(engine, tenant, "acme")
    # a PSA without a contract level (HaloPSA) stores client and item only; each target checks its own chain
    assert MappingValues("1", item_id="2").contract_id is None
    with transaction(engine) as session:
        with pytest.raises(UserInputError, match="unknown product 'email'"):
            psa_mappings.save_mapping(
                session,
                tenant=tenant,
                target="halopsa",
                company_id="acme",
                product="email",
                values=MappingValues("1"),
                by="x",
            )
        with pytest.raises(NotFound, match="no company 'nope'"):
            psa_mappings.save_mapping(
                session, tenant=tenant, target="halopsa", company_id="nope", values=MappingValues("1"), by="x"
            )


def test_the_company_cache_is_replaced_and_searched(engine: Engine) -> None:
    tenant = make_tenant(engine)
    with transaction(engine) as session:
        psa_mappings.refresh_companies(
            session,
            tenant=tenant,
            target="halopsa",
            companies=[RemoteCompany("1", "Acme Corporation"), RemoteCompany("2", "Globex", active=False)],
        )
        assert (
            psa_mappings.refresh_companies(
                session,
                tenant=tenant,
                target="halopsa",
                companies=[RemoteCompany("1", "Acme Corp"), RemoteCompany("3", "Initech")],
            )
            == 2
        )
        names = [c.name for c in psa_mappings.search_companies(session, tenant=tenant, target="halopsa")]
        assert names == ["Acme Corp", "Initech"]
        assert [
            c.remote_id for c in psa_mappings.search_companies(session, tenant=tenant, target="halopsa", query="INI")
        ] == ["3"]
