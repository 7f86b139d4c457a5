"""Catalog settings and "Create addition" over the API and in Chromium (1280 and 1024 px)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect
from sqlalchemy import Engine

from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from seatsync.sandboxes.server import BackgroundServer
from tests.web.conftest import World, connect_cw, login
from tests.web.test_browser import browser, site
from tests.web.test_browser import login as page_login

__all__ = ["browser", "site"]

CATALOG = {
    "subcategory": "Security",
    "type": "Service",
    "products": [{"item": "", "identifier": "AWARE-ALL", "description": "Awareness seats"}],
}


def _new_agreement(sandbox: ConnectWiseSandbox) -> tuple[int, int]:
    company = sandbox.add_company("Zebra Unmatched Holdings")
    return company["id"], sandbox.add_agreement(company["id"])["id"]


def test_catalog_settings_and_create_addition_over_the_api(
    admin: TestClient, connected: BackgroundServer, cw_sandbox: ConnectWiseSandbox
) -> None:
    assert admin.get("/api/v1/connectwise/catalog").json()["products"][0]["identifier"] == "PHISH-SAT"
    saved = admin.put("/api/v1/connectwise/catalog", json=CATALOG)
    assert saved.status_code == 200, saved.text
    assert saved.json()["subcategory"] == "Security"
    too_long = admin.put(
        "/api/v1/connectwise/catalog",
        json={**CATALOG, "products": [{"item": "sat", "identifier": "X" * 80, "description": "d"}]},
    )
    assert too_long.status_code == 422

    cw_company, agreement = _new_agreement(cw_sandbox)
    made = admin.post(
        "/api/v1/connectwise/additions",
        json={"company_id": "a-005", "cw_company_id": cw_company, "agreement_id": agreement},
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["catalog_created"] is True
    assert body["catalog_identifier"] == "AWARE-ALL"
    assert body["mapping"]["addition_id"] == body["addition_id"]
    assert cw_sandbox.additions[body["addition_id"]]["product"]["identifier"] == "AWARE-ALL"
    assert admin.get("/api/v1/mappings/a-005").json()["complete"] is True


def test_missing_rights_are_named_over_the_api(
    world: World, app_client: TestClient, cw_server: BackgroundServer, cw_sandbox: ConnectWiseSandbox
) -> None:
    connect_cw(world.engine, world.tenants["a"], cw_server.url, public_key="readonly-public")
    login(app_client, "admin@a.test")
    assert app_client.put("/api/v1/connectwise/catalog", json=CATALOG).status_code == 200
    cw_company, agreement = _new_agreement(cw_sandbox)
    before = (dict(cw_sandbox.catalog), dict(cw_sandbox.additions))
    refused = app_client.post(
        "/api/v1/connectwise/additions",
        json={"company_id": "a-005", "cw_company_id": cw_company, "agreement_id": agreement},
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["missing_rights"] == [
        "Procurement › Product Catalog › Add Level (All)",
        "Finance › Agreements › Edit Level (All)",
    ]
    assert (cw_sandbox.catalog, cw_sandbox.additions) == before


def test_a_viewer_cannot_change_the_catalog(viewer: TestClient, connected: BackgroundServer) -> None:
    assert viewer.put("/api/v1/connectwise/catalog", json=CATALOG).status_code == 403


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 1024])
def test_settings_page_then_create_addition_in_the_mapper(
    browser: Browser, site: tuple[str, Engine, ConnectWiseSandbox], width: int
) -> None:
    base, _engine, sandbox = site
    cw_company, agreement = _new_agreement(sandbox)
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page_login(page, base, "admin@a.test")
    page.get_by_role("link", name="Catalog settings").click()
    expect(page.get_by_role("heading", name="ConnectWise › Catalog settings")).to_be_visible()
    page.get_by_label("Product subcategory").fill("Security")
    page.get_by_label("Product type").fill("Service")
    page.get_by_label("Catalog identifier: One addition for all of a company's products").fill("AWARE-ALL")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Catalog settings saved.")
    expect(page.get_by_label("Catalog identifier: One addition for all of a company's products")).to_have_value(
        "AWARE-ALL"
    )

    page.get_by_role("link", name="Back to ConnectWise › Billing").click()
    row = page.locator("tr[data-company='a-005']")
    combo = row.get_by_role("combobox", name="ConnectWise Company Zebra Unmatched Holdings")
    combo.fill("Zebra")
    page.get_by_role("option", name="Zebra Unmatched Holdings").click()
    expect(page.locator("#toast")).to_contain_text("Mapping Saved: Zebra Unmatched Holdings")
    row.get_by_role("combobox", name="ConnectWise Agreement Zebra Unmatched Holdings").select_option(str(agreement))
    expect(page.locator("#toast")).to_contain_text("Mapping Saved")
    row.get_by_role("button", name="Create addition").click()
    expect(page.locator("#toast")).to_contain_text("Created the catalog product AWARE-ALL and its addition")
    addition = row.get_by_role("combobox", name="ConnectWise Addition Zebra Unmatched Holdings")
    expect(addition.locator("option:checked")).to_contain_text("AWARE-ALL")
    made = [a for a in sandbox.additions.values() if a["agreementId"] == agreement]
    assert [a["product"]["identifier"] for a in made] == ["AWARE-ALL"]
    assert sandbox.find_catalog_item(identifier="AWARE-ALL") is not None
    assert cw_company
    context.close()
