"""Issue 15's mapper controls in headless Chromium, at 1280 and 1024 px: a company mapped to an addition that already
bills another is asked whether they are billed together (and then both mappings say so: the addition gets their
sum); a company whose products are billed apart has a "Create addition" per product; the push dialog offers to
skip the rows whose period is already invoiced."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import Engine, select

from seatsync.db.engine import transaction
from seatsync.db.models import CWMapping, PushRun
from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from seatsync.services import connectwise_connection as cw
from seatsync.services import cw_catalog, mappings
from seatsync.services.tenants import get_tenant
from tests.web.test_browser import browser, login, site

__all__ = ["browser", "site"]

pytestmark = pytest.mark.browser


def _prepare(engine: Engine) -> int:
    """Acme Corp (a-001) mapped to Acme Corporation's addition; Contoso (a-003) billed per product, each product's
    chain chosen up to the agreement (no addition yet); catalog settings to create products with. Acme's addition."""
    with transaction(engine) as session:
        tenant = get_tenant(session, slug="alpha-msp")
        cw_catalog.save_catalog_settings(
            session, tenant=tenant, subcategory="Security", product_type="Service", products={}
        )
        with cw.client_for(session, tenant=tenant) as client:
            by_name = {c.name: c for c in client.list_companies()}
            acme = by_name["Acme Corporation"]
            agreement = next(a for a in mappings.cw_agreements(client, cw_company=acme.id) if a.active)
            addition = next(a for a in mappings.cw_additions(client, agreement=agreement.id) if not a.cancelled)
            mappings.set_mapping(
                session,
                tenant=tenant,
                company_id="a-001",
                cw_company=acme.id,
                agreement=agreement.id,
                addition=addition.id,
                by="test",
                client=client,
            )
            contoso = by_name["Contoso Ltd"]
            agreement = next(a for a in mappings.cw_agreements(client, cw_company=contoso.id) if a.active)
            for product in ("sat", "phishing"):
                mappings.set_mapping(
                    session,
                    tenant=tenant,
                    company_id="a-003",
                    cw_company=contoso.id,
                    agreement=agreement.id,
                    addition=None,
                    by="test",
                    client=client,
                    product=product,
                )
            return addition.id


@pytest.mark.parametrize("width", [1280, 1024])
def test_billed_together_and_create_addition_per_product(
    browser: Browser, site: tuple[str, Engine, ConnectWiseSandbox], width: int
) -> None:
    base, engine, sandbox = site
    shared = _prepare(engine)
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    login(page, base, "admin@a.test")
    assert page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0

    # Globex (a-004) onto Acme's addition: asked first, then billed together
    row = page.locator("tr[data-company='a-004']")
    row.get_by_role("combobox", name="ConnectWise Company Globex Logistics").fill("Acme")
    page.locator("#mapper-options").get_by_role("option", name="Acme Corporation").click()
    expect(page.locator("#toast")).to_contain_text("Mapping Saved: Globex Logistics")
    agreement = row.get_by_role("combobox", name="ConnectWise Agreement Globex Logistics")
    expect(agreement).to_be_enabled()
    agreement.select_option(index=1)
    addition = row.get_by_role("combobox", name="ConnectWise Addition Globex Logistics")
    expect(addition).to_be_enabled()
    addition.select_option(value=str(shared))
    dialog = page.locator("#together")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("already bills a-001")
    dialog.get_by_role("button", name="Bill them together").click()
    expect(page.locator("#toast")).to_contain_text("billed together: the addition gets their sum")
    with transaction(engine) as session:
        flags = session.scalars(select(CWMapping.billed_together).where(CWMapping.addition_id == shared)).all()
        assert sorted(flags) == [True, True]

    # Contoso's training gets its own addition from the mapper; its phishing chain stays as it was
    contoso = page.locator("tr[data-company='a-003']")
    create = contoso.get_by_role("button", name="Create addition for Contoso Limited (Training)")
    expect(create).to_be_visible()
    expect(contoso.get_by_role("button", name="Create addition for Contoso Limited (Phishing)")).to_be_visible()
    create.click()
    expect(page.locator("#toast")).to_contain_text("Created the catalog product PHISH-SAT-TRAINING")
    with transaction(engine) as session:
        made = dict(
            session.execute(
                select(CWMapping.product, CWMapping.addition_id).where(CWMapping.product.in_(["sat", "phishing"]))
            ).all()
        )
    assert made["phishing"] is None and made["sat"] in sandbox.additions
    assert sandbox.additions[made["sat"]]["quantity"] == 0
    assert page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0

    # Push Billing offers to skip invoiced periods, and the run remembers it
    page.get_by_role("button", name="Push Billing").click()
    confirm = page.locator("#push-confirm")
    confirm.get_by_label("Skip the rows whose period is already invoiced").check()
    confirm.get_by_role("button", name="Push Billing").click()
    expect(page.locator("#push-progress")).to_contain_text("Done", timeout=30_000)
    with transaction(engine) as session:
        assert session.scalars(select(PushRun.skip_invoiced)).all() == [True]
    context.close()
