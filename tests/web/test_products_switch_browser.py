"""A mapper row's "Bill products separately" in headless Chromium at 1280 px (issue 15, items per product): Acme
(both products) billed on one addition switches to one addition per product from the page, chooses Phishing's,
pushes, and the ConnectWise sandbox holds each product's own count; "One item for all products" goes back. A viewer
sees no switch. The page still fits 1280 and 1024 px with the switch in its rows."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import Engine, select

from seatsync.db.engine import transaction
from seatsync.db.models import CWMapping, PushRun
from seatsync.domain.periods import BillingPeriod
from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from seatsync.services import connectwise_connection as cw
from seatsync.services import mappings
from seatsync.services.billing import count_billable
from seatsync.services.tenants import get_tenant
from tests.web.test_browser import browser, login, site

__all__ = ["browser", "site"]

pytestmark = pytest.mark.browser


def _map_acme(engine: Engine, sandbox: ConnectWiseSandbox) -> tuple[int, int]:
    """Acme Corp (a-001) on one addition for all its products, and a second addition on the same agreement for
    phishing to be chosen later. (the first addition, the second)"""
    with transaction(engine) as session:
        tenant = get_tenant(session, slug="alpha-msp")
        with cw.client_for(session, tenant=tenant) as client:
            acme = next(c for c in client.list_companies() if c.name == "Acme Corporation")
            agreement = next(a for a in mappings.cw_agreements(client, cw_company=acme.id) if a.active)
            first = next(a for a in mappings.cw_additions(client, agreement=agreement.id) if not a.cancelled)
            mappings.set_mapping(
                session, tenant=tenant, company_id="a-001", cw_company=acme.id, agreement=agreement.id,
                addition=first.id, by="test", client=client,
            )  # fmt: skip
    second = sandbox.add_addition(agreement.id, product="BACKUP-M365", quantity=9)
    return first.id, int(second["id"])


def _overflow(page: object) -> int:
    return int(page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth"))  # type: ignore[attr-defined]


def test_bill_products_separately_from_the_page_and_push_each_count(
    browser: Browser, site: tuple[str, Engine, ConnectWiseSandbox]
) -> None:
    base, engine, sandbox = site
    training, phishing = _map_acme(engine, sandbox)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    login(page, base, "admin@a.test")
    assert _overflow(page) <= 0

    row = page.locator("tr[data-company='a-001']")
    expect(row.get_by_role("combobox", name="ConnectWise Addition Acme Corp")).to_have_count(1)
    row.get_by_role("button", name="Bill products separately").click()
    expect(page.locator(".notice-ok")).to_contain_text("Acme Corp: each product has its own addition now")
    row = page.locator("tr[data-company='a-001']")
    expect(row.get_by_role("button", name="One item for all products")).to_be_visible()
    kept = row.get_by_role("combobox", name="ConnectWise Addition Acme Corp a-001 Training")
    expect(kept.locator("option:checked")).to_have_attribute("value", str(training))
    chosen = row.get_by_role("combobox", name="ConnectWise Addition Acme Corp a-001 Phishing")
    expect(chosen).to_be_enabled()
    chosen.focus()  # a saved row's list is read from ConnectWise when the box is opened
    expect(chosen.locator(f"option[value='{phishing}']")).to_have_count(1)
    chosen.select_option(value=str(phishing))
    expect(page.locator("#toast")).to_contain_text("Mapping Saved: Acme Corp")
    assert _overflow(page) <= 0
    with transaction(engine) as session:
        saved = dict(session.execute(select(CWMapping.product, CWMapping.addition_id)).all())
    assert saved == {"sat": training, "phishing": phishing}

    page.get_by_role("button", name="Push Billing").click()
    page.locator("#push-confirm").get_by_role("button", name="Push Billing").click()
    expect(page.locator("#push-progress")).to_contain_text("Done", timeout=30_000)
    with transaction(engine) as session:
        period = session.scalars(select(PushRun.period)).one()
        tenant = get_tenant(session, slug="alpha-msp")
        acme = next(c for c in count_billable(session, tenant=tenant, period=BillingPeriod.parse(period))
                    if c.company_id == "a-001")  # fmt: skip
    counts = acme.per_product()
    assert counts["sat"] > 0
    assert sandbox.additions[training]["quantity"] == counts["sat"]
    assert sandbox.additions[phishing]["quantity"] == counts["phishing"]

    # and back: one addition (Training's) for all the products
    page.locator("tr[data-company='a-001']").get_by_role("button", name="One item for all products").click()
    expect(page.locator(".notice-ok")).to_contain_text("Acme Corp: one addition for all its products now")
    with transaction(engine) as session:
        saved = dict(session.execute(select(CWMapping.product, CWMapping.addition_id)).all())
    assert saved == {"": training}
    page.set_viewport_size({"width": 1024, "height": 800})
    assert _overflow(page) <= 0

    viewer = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    login(viewer, base, "viewer@a.test")
    expect(viewer.locator("tr[data-company='a-001']")).to_be_visible()
    expect(viewer.get_by_role("button", name="Bill products separately")).to_have_count(0)
    context.close()
