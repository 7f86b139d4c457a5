"""'Create addition': the catalog product (if absent) and an addition on the chosen agreement, rights checked first."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from seatsync.db.engine import transaction
from seatsync.db.models import CWMapping
from seatsync.errors import ConfigurationError, MissingRights
from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from seatsync.services import connectwise_connection, cw_catalog, mappings
from seatsync.services.cw_catalog import ProductSetting
from tests.push.conftest import CLIENT_ID, World, make_client


def _connect(world: World, public: str = "demo-public", private: str = "demo-private") -> None:
    with transaction(world.engine) as session:
        connectwise_connection.connect(
            session,
            tenant=world.tenant,
            site=world.url,
            company_id="demo",
            public_key=public,
            private_key=private,
            client_id=CLIENT_ID,
        )


def _choose_products(world: World, identifier: str = "SEC-AWARE") -> None:
    with transaction(world.engine) as session:
        cw_catalog.save_catalog_settings(
            session,
            tenant=world.tenant,
            subcategory="Security",
            product_type="Service",
            products={
                "": ProductSetting(identifier, "Security awareness (all)"),
                "sat": ProductSetting(identifier + "-T", "Training"),
            },
        )


def _fresh_agreement(sandbox: ConnectWiseSandbox) -> tuple[int, int]:
    company = sandbox.add_company("New Client LLC")
    agreement = sandbox.add_agreement(company["id"])
    return company["id"], agreement["id"]


def _create(
    world: World,
    cw_company: int,
    agreement: int,
    *,
    company_id: str = "c04",
    product: str = "",
    public: str = "demo-public",
    private: str = "demo-private",
) -> cw_catalog.CreatedAddition:
    with make_client(world.url, public, private) as client, transaction(world.engine) as session:
        return cw_catalog.create_addition(
            session,
            tenant=world.tenant,
            company_id=company_id,
            cw_company=cw_company,
            agreement=agreement,
            product=product,
            by="ops@msp.example",
            client=client,
        )


def test_creates_the_catalog_product_then_the_addition_and_maps_it(world: World, sandbox: ConnectWiseSandbox) -> None:
    _connect(world)
    _choose_products(world)
    cw_company, agreement = _fresh_agreement(sandbox)
    before = len(sandbox.catalog)
    created = _create(world, cw_company, agreement)
    assert created.catalog_created
    assert len(sandbox.catalog) == before + 1
    item = sandbox.find_catalog_item(identifier="SEC-AWARE")
    assert item is not None
    assert item["subcategory"]["name"] == "Security"
    assert item["type"]["name"] == "Service"
    addition = sandbox.additions[created.addition.id]
    assert addition["agreementId"] == agreement
    assert addition["product"] == {"id": item["id"], "identifier": "SEC-AWARE"}
    assert addition["quantity"] == 0
    with transaction(world.engine) as session:
        mapping = session.scalar(select(CWMapping).where(CWMapping.addition_id == created.addition.id))
        assert mapping is not None
        assert (mapping.agreement_id, mapping.product) == (agreement, "")

    # an addition for one product replaces the one for all the company's products
    other_company, other_agreement = _fresh_agreement(sandbox)
    again = _create(world, other_company, other_agreement, product="sat")
    assert again.catalog_created  # "sat" has its own identifier
    assert sandbox.additions[again.addition.id]["product"]["identifier"] == "SEC-AWARE-T"
    with transaction(world.engine) as session:
        kept = mappings.company_mappings(session, tenant=world.tenant, company_id="c04")
        assert set(kept) == {"sat"}
        history = mappings.mapping_history(session, tenant=world.tenant, company_id="c04")
        assert [(h.product, h.after is None) for h in history[:2]] == [("sat", False), ("", True)]


def test_the_read_only_member_is_told_every_missing_right_and_nothing_is_created(
    world: World, sandbox: ConnectWiseSandbox
) -> None:
    _connect(world)
    _choose_products(world, "NOT-YET-THERE")
    cw_company, agreement = _fresh_agreement(sandbox)
    catalog, additions = dict(sandbox.catalog), dict(sandbox.additions)
    with pytest.raises(MissingRights) as refused:
        _create(world, cw_company, agreement, public="readonly-public", private="readonly-private")
    assert refused.value.rights == (
        "Procurement › Product Catalog › Add Level (All)",
        "Finance › Agreements › Edit Level (All)",
    )
    assert "Procurement › Product Catalog › Add" in str(refused.value)
    assert sandbox.catalog == catalog
    assert sandbox.additions == additions


def test_an_existing_product_needs_only_agreements_edit(world: World, sandbox: ConnectWiseSandbox) -> None:
    _connect(world)
    assert sandbox.find_catalog_item(identifier="PHISH-SAT") is not None
    cw_company, agreement = _fresh_agreement(sandbox)
    with pytest.raises(MissingRights) as refused:
        _create(world, cw_company, agreement, public="readonly-public", private="readonly-private")
    assert refused.value.rights == ("Finance › Agreements › Edit Level (All)",)


def test_a_missing_product_without_subcategory_and_type_asks_for_the_settings(
    world: World, sandbox: ConnectWiseSandbox
) -> None:
    _connect(world)
    cw_company, agreement = _fresh_agreement(sandbox)
    with pytest.raises(ConfigurationError, match="subcategory and type"):
        _create(world, cw_company, agreement, product="phishing")
    assert sandbox.find_catalog_item(identifier="PHISH-SAT-PHISHING") is None


def test_settings_survive_a_reconnect_and_feed_auto_map(world: World) -> None:
    _connect(world)
    _choose_products(world, "MY-SAT")
    _connect(world)
    with transaction(world.engine) as session:
        from seatsync.services.automap import catalog_identifier

        assert catalog_identifier(session, tenant=world.tenant) == "MY-SAT"
        assert catalog_identifier(session, tenant=world.tenant, product="sat") == "MY-SAT-T"
        assert catalog_identifier(session, tenant=world.tenant, product="phishing") == "PHISH-SAT-PHISHING"


def test_bad_settings_are_refused_naming_the_field(world: World) -> None:
    _connect(world)
    with transaction(world.engine) as session:
        with pytest.raises(Exception, match="longer than ConnectWise's 75"):
            cw_catalog.save_catalog_settings(
                session,
                tenant=world.tenant,
                subcategory="Security",
                product_type="Service",
                products={"": ProductSetting("X" * 80, "d")},
            )
        with pytest.raises(Exception, match="own catalog identifier"):
            cw_catalog.save_catalog_settings(
                session,
                tenant=world.tenant,
                subcategory="Security",
                product_type="Service",
                products={"": ProductSetting("SAME", "a"), "sat": ProductSetting("same", "b")},
            )
