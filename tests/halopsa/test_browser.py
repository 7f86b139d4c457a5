"""HaloPSA › Billing in headless Chromium: choose a client, create a subscription for a company that has none
("Create subscription"), push from the page, and read the count back from the sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import Engine

from seatsync.config import get_settings
from seatsync.db.engine import make_engine, transaction
from seatsync.db.migrate import upgrade
from seatsync.sandboxes.halopsa import HaloPSASandbox, create_app
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services import halopsa_connection as halo
from seatsync.services import psa_mappings
from seatsync.services.psa_mappings import MappingValues
from seatsync.services.tenants import get_tenant
from seatsync.web.app import create_app as create_web_app
from tests.web.conftest import PASSWORD, seed_tenant
from tests.web.test_browser import browser, shot  # noqa: F401 (the browser fixture)

pytestmark = pytest.mark.browser


@pytest.fixture
def halo_site(sqlite_url: str) -> Iterator[tuple[str, Engine, HaloPSASandbox]]:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    seed_tenant(engine, "Alpha MSP", "a")
    sandbox = HaloPSASandbox(seed="demo", rate_limit=None)
    with BackgroundServer(create_app(sandbox)) as halo_server:
        with transaction(engine) as session:
            tenant = get_tenant(session, slug="alpha-msp")
            result = halo.connect(
                session, tenant=tenant, url=halo_server.url, client_id="demo-client", client_secret="demo-secret"
            )
            assert result.status is halo.IntegrationStatus.CONNECTED, result.reason
        app = create_web_app(settings=get_settings(), engine=engine)
        with BackgroundServer(app) as web:
            yield web.url, engine, sandbox
            app.state.seatsync.dispatcher.wait(30)
    engine.dispose()


def test_create_a_subscription_from_the_mapper_and_push(
    browser: Browser,  # noqa: F811
    halo_site: tuple[str, Engine, HaloPSASandbox],
) -> None:
    base, _engine, sandbox = halo_site
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill("admin@a.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{base}/halopsa/billing")
    expect(page.get_by_role("heading", name="HaloPSA › Billing")).to_be_visible()

    # "Zebra Unmatched Holdings" (a-005) gets Smith & Sons' client, which has no subscription yet
    row = page.locator("tr[data-company='a-005']")
    combo = row.get_by_role("combobox", name="HaloPSA Client Zebra Unmatched Holdings")
    combo.fill("Smith")
    page.get_by_role("option", name="Smith & Sons Plumbing").click()
    expect(page.locator("#toast")).to_contain_text("Mapping Saved: Zebra Unmatched Holdings")
    item = sandbox.add_item("Security Awareness Seat")
    row.get_by_role("button", name="Create subscription").click()
    # the page asks for what the CLI and the API take: the name (default the company's) and the item it bills
    dialog = page.locator("#create-item")
    expect(dialog).to_contain_text("Zebra Unmatched Holdings")
    dialog.get_by_label("Name").fill("Zebra Seats")
    dialog.get_by_label("HaloPSA item it bills").select_option(label="Security Awareness Seat")
    dialog.get_by_role("button", name="Create").click()
    expect(page.locator("#toast")).to_contain_text("Created", timeout=15_000)
    smith = next(c["id"] for c in sandbox.clients.values() if c["name"] == "Smith & Sons Plumbing")
    created = [r for r in sandbox.licences.values() if r["client_id"] == smith]
    assert [(r["name"], r.get("item_id")) for r in created] == [("Zebra Seats", item["id"])]
    shot(page, "halopsa-01-created")

    page.get_by_role("button", name="Push Billing").click()
    page.locator("#push-confirm").get_by_role("button", name="Push Billing").click()
    expect(page.locator("tr[data-company='a-005'] .status-ok")).to_be_visible(timeout=30_000)
    shot(page, "halopsa-02-pushed")
    licence = sandbox.licences[created[0]["id"]]
    billable = int(page.locator("tr[data-company='a-005'] td.num").first.inner_text().strip() or 0)
    assert billable > 0 and licence["count"] == billable
    assert "seatsync " in licence["notes"]
    context.close()


def test_products_billed_apart_show_a_subscription_choice_each(
    browser: Browser,  # noqa: F811
    halo_site: tuple[str, Engine, HaloPSASandbox],
) -> None:
    """A company whose training and phishing are billed on separate subscriptions shows the client once and one
    labelled subscription choice per product, at 1024 px without scrolling sideways."""
    base, engine, sandbox = halo_site
    client = sandbox.add_client("Per Product Client")
    with transaction(engine) as session:
        tenant = get_tenant(session, slug="alpha-msp")
        for product in ("sat", "phishing"):
            licence = sandbox.add_licence(client["id"], name=f"Seats {product}", count=0)
            psa_mappings.save_mapping(
                session,
                tenant=tenant,
                target="halopsa",
                company_id="a-003",
                product=product,
                values=MappingValues(
                    str(client["id"]), client["name"], item_id=str(licence["id"]), item_name=licence["name"]
                ),
                by="test",
            )
    context = browser.new_context(viewport={"width": 1024, "height": 800})
    page = context.new_page()
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill("admin@a.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{base}/halopsa/billing")
    row = page.locator("tr[data-company='a-003']")
    expect(row.locator("input.pick")).to_have_count(1)
    expect(row.get_by_role("combobox", name="HaloPSA Subscription Contoso Limited a-003 Training")).to_have_text(
        "Seats sat"
    )
    expect(row.get_by_role("combobox", name="HaloPSA Subscription Contoso Limited a-003 Phishing")).to_have_text(
        "Seats phishing"
    )
    expect(row.locator(".status-none")).to_have_text("Not pushed yet")
    assert page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0
    context.close()
