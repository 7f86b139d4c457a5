"""The mapper in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright; never downloaded).

Log in; map a company by choosing company, agreement and addition and see "Mapping Saved"; accept an auto-map
suggestion; preview; push and see ✓; a failing row shows ✗ with its reason; a viewer cannot push. On the Autotask
mapper, map one company (company, contract, contract service), push, and read the units back from its sandbox.
Screenshots of the key pages go to test-artifacts/.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, date
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import Engine

from seatsync.config import get_settings
from seatsync.db.engine import make_engine, transaction
from seatsync.db.migrate import upgrade
from seatsync.domain.periods import BillingPeriod
from seatsync.sandboxes.autotask import DEMO_INTEGRATION_CODE, AutotaskSandbox
from seatsync.sandboxes.autotask import create_app as create_at_app
from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from seatsync.sandboxes.connectwise import create_app as create_cw_app
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services import autotask_connection as at
from seatsync.services import connectwise_connection as cw
from seatsync.services import mappings
from seatsync.services.tenants import get_tenant
from seatsync.web.app import create_app
from tests.autotask.conftest import FakeClock as AutotaskClock
from tests.web.conftest import PASSWORD, connect_cw, seed_tenant
from tests.web.conftest import FakeClock as WebClock

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (the tests never download a browser)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield launched
        launched.close()


def serve_site(sqlite_url: str, *, zone: str = "UTC") -> Iterator[tuple[str, Engine, ConnectWiseSandbox]]:
    """The web app over a seeded tenant (``alpha-msp``, in ``zone``) connected to a demo ConnectWise sandbox."""
    engine = make_engine(sqlite_url)
    upgrade(engine)
    seed_tenant(engine, "Alpha MSP", "a")
    with transaction(engine) as session:
        get_tenant(session, slug="alpha-msp").time_zone = zone
    sandbox = ConnectWiseSandbox(seed="demo")
    with BackgroundServer(create_cw_app(sandbox)) as cw_server:
        connect_cw(engine, "alpha-msp", cw_server.url)
        app = create_app(settings=get_settings(), engine=engine)
        with BackgroundServer(app) as web:
            yield web.url, engine, sandbox
            app.state.seatsync.dispatcher.wait(30)
    engine.dispose()


@pytest.fixture
def site(sqlite_url: str) -> Iterator[tuple[str, Engine, ConnectWiseSandbox]]:
    yield from serve_site(sqlite_url)


def login(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="ConnectWise › Billing")).to_be_visible()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def map_northwind_and_break_it(engine: Engine, sandbox: ConnectWiseSandbox) -> None:
    """Map Northwind completely, then delete its addition in ConnectWise: its push must fail, with the reason."""
    with transaction(engine) as session:
        tenant = get_tenant(session, slug="alpha-msp")
        with cw.client_for(session, tenant=tenant) as client:
            company = next(c for c in client.list_companies() if c.name == "Northwind Traders")
            agreement = mappings.cw_agreements(client, cw_company=company.id)[0]
            addition = mappings.cw_additions(client, agreement=agreement.id)[0]
            mappings.set_mapping(
                session,
                tenant=tenant,
                company_id="a-002",
                cw_company=company.id,
                agreement=agreement.id,
                addition=addition.id,
                by="test",
                client=client,
            )
    with sandbox.lock:
        del sandbox.additions[addition.id]


def test_mapper_end_to_end(browser: Browser, site: tuple[str, Engine, ConnectWiseSandbox]) -> None:
    base, engine, sandbox = site
    map_northwind_and_break_it(engine, sandbox)
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/login")
    shot(page, "01-login")
    login(page, base, "admin@a.test")
    shot(page, "02-mapper")

    # map Acme Corp: company, then agreement, then addition, each saved at once
    row = page.locator("tr[data-company='a-001']")
    combo = row.get_by_role("combobox", name="ConnectWise Company Acme Corp")
    combo.fill("Acme")
    page.get_by_role("option", name="Acme Corporation").click()
    expect(page.locator("#toast")).to_contain_text("Mapping Saved: Acme Corp")
    agreement = row.get_by_role("combobox", name="ConnectWise Agreement Acme Corp")
    expect(agreement).to_be_enabled()
    expect(agreement.locator("option")).to_have_count(2)
    agreement.select_option(index=1)
    addition = row.get_by_role("combobox", name="ConnectWise Addition Acme Corp")
    expect(addition).to_be_enabled()
    expect(addition.locator("option")).to_have_count(2)  # the cancelled addition is not offered
    addition.select_option(index=1)
    expect(page.locator("#toast")).to_contain_text("Mapping Saved: Acme Corp (ready to push)")
    expect(row.locator(".saved")).not_to_have_text("—")
    shot(page, "03-mapping-saved")

    # accept one auto-map suggestion
    page.get_by_role("button", name="Auto-map suggestions…").click()
    accept = page.get_by_role("button", name="Accept Globex Logistics for Globex Logistics")
    expect(accept).to_be_visible()
    shot(page, "04-automap")
    accept.click()
    expect(accept).to_have_text("Saved ✓")
    page.locator("#automap").get_by_role("button", name="Close").click()
    page.wait_for_load_state("load")
    globex = page.locator("tr[data-company='a-004']")
    expect(globex.locator("input.pick")).to_have_value("Globex Logistics")

    # preview: the plan, before → after
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#preview")
    expect(preview).to_contain_text("Update")
    expect(preview.locator("tr", has_text="Acme Corp")).to_contain_text("Update")
    shot(page, "05-preview")
    preview.get_by_role("button", name="Close").click()

    # push, follow the progress, then see ✓ for Acme and ✗ with the reason for Northwind
    page.get_by_role("button", name="Push Billing").click()
    page.locator("#push-confirm").get_by_role("button", name="Push Billing").click()
    expect(page.locator("#push-progress")).to_be_visible()
    expect(page.locator("tr[data-company='a-001'] .status-ok")).to_be_visible(timeout=30_000)
    expect(page.locator("tr[data-company='a-001'] .status-ok")).to_contain_text("✓")
    failed = page.locator("tr[data-company='a-002'] .status-bad")
    expect(failed).to_contain_text("✗")
    reason = failed.get_attribute("title") or ""
    assert "addition" in reason.lower(), reason
    expect(page.locator("#last-push")).not_to_have_text("—")
    shot(page, "06-pushed")
    failed.click()
    expect(page.locator("#details-body")).to_contain_text(reason)
    shot(page, "07-failure-details")
    page.locator("#details").get_by_role("button", name="Close").click()

    page.goto(f"{base}/history")
    shot(page, "08-history")
    page.get_by_role("link", name="#1").click()
    expect(page.get_by_role("heading", name="Run #1: ConnectWise for")).to_be_visible()
    shot(page, "09-run")
    page.goto(f"{base}/integrations")
    shot(page, "10-integrations")
    context.close()


def test_viewer_cannot_push(browser: Browser, site: tuple[str, Engine, ConnectWiseSandbox]) -> None:
    base, _engine, _sandbox = site
    context = browser.new_context()
    page = context.new_page()
    login(page, base, "viewer@a.test")
    expect(page.get_by_role("button", name="Push Billing")).to_have_count(0)
    expect(page.get_by_text("Push Billing needs the admin role")).to_be_visible()
    expect(page.get_by_role("combobox", name="ConnectWise Company Acme Corp")).to_have_attribute("readonly", "")
    status = page.evaluate(
        """async () => (await fetch('/api/v1/pushes', {method: 'POST', headers: {'Content-Type': 'application/json',
            'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content}, body: '{}'})).status"""
    )
    assert status == 403
    shot(page, "11-viewer")
    context.close()


MAPPER_SIZES = [(1280, 800), (1024, 768)]


def _right_edge(page: Page, selector: str) -> float:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return float(box["x"] + box["width"])


@pytest.mark.parametrize(("width", "height"), MAPPER_SIZES, ids=[f"{w}x{h}" for w, h in MAPPER_SIZES])
def test_mapper_fits(browser: Browser, site: tuple[str, Engine, ConnectWiseSandbox], width: int, height: int) -> None:
    """No horizontal overflow; Billing Status and Mapping Saved on screen; a long name takes at most two lines; the
    columns stay where they are when an addition is chosen."""
    base, engine, sandbox = site
    map_northwind_and_break_it(engine, sandbox)
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    login(page, base, "admin@a.test")
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the {width}px window"
    for heading in ("Billing Status", "Mapping Saved"):
        header = page.get_by_role("columnheader", name=heading)
        expect(header).to_be_in_viewport()
        assert _right_edge(page, f"th:has-text('{heading}')") <= width, heading
    # the longest demo name wraps to two lines at most
    name = page.locator("tr[data-company='a-005'] .company-name")
    lines = page.evaluate(
        "(e) => e.getBoundingClientRect().height / (1.25 * parseFloat(getComputedStyle(e).fontSize))",
        name.element_handle(),
    )
    assert lines < 2.5, f"'Zebra Unmatched Holdings' takes {lines:.1f} lines"

    def column_edges() -> list[float]:
        return [
            float(x)
            for x in page.evaluate(
                "() => [...document.querySelectorAll('#mapper thead th')].map((th) => th.getBoundingClientRect().left)"
            )
        ]

    before = column_edges()
    row = page.locator("tr[data-company='a-001']")
    row.get_by_role("combobox", name="ConnectWise Company Acme Corp").fill("Acme")
    page.get_by_role("option", name="Acme Corporation").click()
    agreement = row.get_by_role("combobox", name="ConnectWise Agreement Acme Corp")
    expect(agreement.locator("option")).to_have_count(2)
    agreement.select_option(index=1)
    addition = row.get_by_role("combobox", name="ConnectWise Addition Acme Corp")
    expect(addition.locator("option")).to_have_count(2)
    addition.select_option(index=1)
    expect(page.locator("#toast")).to_contain_text("(ready to push)")
    assert column_edges() == before, "the columns moved when the addition was chosen"
    assert page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0
    expect(row.locator("td.saved")).to_be_in_viewport()
    shot(page, f"mapper-{width}")
    context.close()


def test_clearing_a_mapping_moves_its_status(browser: Browser, site: tuple[str, Engine, ConnectWiseSandbox]) -> None:
    """Issue 15: a cleared mapping is no longer pushed, and the row says so (also after a reload)."""
    base, engine, sandbox = site
    map_northwind_and_break_it(engine, sandbox)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    login(page, base, "admin@a.test")
    page.get_by_role("button", name="Push Billing").click()
    page.locator("#push-confirm").get_by_role("button", name="Push Billing").click()
    row = page.locator("tr[data-company='a-002']")
    expect(row.locator(".status-bad")).to_contain_text("Blocked", timeout=30_000)
    row.get_by_role("button", name="Clear the mapping of Northwind Traders").click()
    expect(page.locator("#toast")).to_contain_text("Mapping cleared: Northwind Traders")
    expect(row.locator(".status-none")).to_have_text("Not mapped")
    expect(row.get_by_role("combobox", name="ConnectWise Company Northwind Traders")).to_have_value("")
    page.reload()
    row = page.locator("tr[data-company='a-002']")
    expect(row.locator(".status-none")).to_have_text("Not mapped")
    expect(row.locator(".status-bad")).to_have_count(0)
    context.close()


def test_products_billed_apart_show_a_chain_each(
    browser: Browser, site: tuple[str, Engine, ConnectWiseSandbox]
) -> None:
    """A company whose training and phishing go to separate additions shows one labelled chain per product, and
    clearing one of them leaves the other."""
    base, engine, _sandbox = site
    with transaction(engine) as session:
        tenant = get_tenant(session, slug="alpha-msp")
        with cw.client_for(session, tenant=tenant) as client:
            by_name = {c.name: c for c in client.list_companies()}
            for product, name in (("sat", "Initech"), ("phishing", "Umbrella Health Partners")):
                company = by_name[name]
                agreement = next(a for a in mappings.cw_agreements(client, cw_company=company.id) if a.active)
                addition = next(a for a in mappings.cw_additions(client, agreement=agreement.id) if not a.cancelled)
                mappings.set_mapping(
                    session,
                    tenant=tenant,
                    company_id="a-003",
                    cw_company=company.id,
                    agreement=agreement.id,
                    addition=addition.id,
                    by="test",
                    client=client,
                    product=product,
                )
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    login(page, base, "admin@a.test")
    row = page.locator("tr[data-company='a-003']")

    expect(row.locator(".pp")).to_have_count(6)  # Training / Phishing over each of the three choices
    expect(row.get_by_role("combobox", name="ConnectWise Addition Contoso Limited a-003 Training")).to_be_visible()
    expect(row.locator(".status-none")).to_have_text("Not pushed yet")
    assert page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0
    row.get_by_role("button", name="Clear the mapping of Contoso Limited (Phishing)").click()
    expect(page.locator("#toast")).to_contain_text("Mapping cleared: Contoso Limited")
    expect(row.locator(".status-none")).to_have_text("Not mapped")
    page.reload()
    row = page.locator("tr[data-company='a-003']")
    expect(row.locator("input.pick")).to_have_count(1)  # only the training chain is left
    context.close()


@pytest.fixture
def autotask_site(sqlite_url: str) -> Iterator[tuple[str, Engine, AutotaskSandbox, WebClock]]:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    seed_tenant(engine, "Alpha MSP", "a")
    sandbox = AutotaskSandbox(seed="demo", clock=AutotaskClock(), slowdown_ms=0)
    web_clock = WebClock()
    with BackgroundServer(create_at_app(sandbox)) as at_server:
        with transaction(engine) as session:
            tenant = get_tenant(session, slug="alpha-msp")
            result = at.connect(
                session,
                tenant=tenant,
                username="demo-api@example.com",
                secret="demo-secret",
                integration_code=DEMO_INTEGRATION_CODE,
                zone_url=at_server.url,
            )
            assert result.status is at.IntegrationStatus.CONNECTED, result.reason
        app = create_app(settings=get_settings(), engine=engine, clock=web_clock)
        with BackgroundServer(app) as web:
            yield web.url, engine, sandbox, web_clock
            app.state.seatsync.dispatcher.wait(30)
    engine.dispose()


def test_autotask_mapper_maps_one_company_and_pushes(
    browser: Browser, autotask_site: tuple[str, Engine, AutotaskSandbox, WebClock]
) -> None:
    base, _engine, sandbox, web_clock = autotask_site
    period = BillingPeriod.containing(web_clock(), UTC)  # the page's period: the injected clock's month
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    login(page, base, "admin@a.test")
    page.goto(f"{base}/autotask/billing")
    expect(page.get_by_role("heading", name="Autotask › Billing")).to_be_visible()

    # Northwind Traders (a-002): Autotask company, then its recurring-service contract, then its contract service
    row = page.locator("tr[data-company='a-002']")
    combo = row.get_by_role("combobox", name="Autotask Company Northwind Traders")
    combo.fill("Northwind")
    # "Northwind Traders Inc." is offered too; the option's name is the company's then its "#id"
    page.get_by_role("option", name=re.compile(r"^Northwind Traders\s*#")).click()
    expect(page.locator("#toast")).to_contain_text("Mapping Saved: Northwind Traders")
    contract = row.get_by_role("combobox", name="Recurring-Service Contract Northwind Traders")
    expect(contract).to_be_enabled()
    expect(contract.locator("option")).to_have_count(2)
    contract.select_option(index=1)
    service = row.get_by_role("combobox", name="Contract Service Northwind Traders")
    expect(service).to_be_enabled()
    expect(service.locator("option")).to_have_count(2)
    service.select_option(index=1)
    expect(page.locator("#toast")).to_contain_text("Mapping Saved: Northwind Traders (ready to push)")
    service_id = int(service.input_value())
    first_day = date(period.year, period.month, 1)
    before = sandbox.units_on(service_id, first_day)
    shot(page, "autotask-01-mapped")

    page.get_by_role("button", name="Push Billing").click()
    page.locator("#push-confirm").get_by_role("button", name="Push Billing").click()
    expect(row.locator(".status-ok")).to_be_visible(timeout=30_000)
    expect(row.locator(".status-ok")).to_contain_text("✓")
    shot(page, "autotask-02-pushed")

    billable = int(row.locator("td.num").first.inner_text().strip())
    assert billable > 0 and before != billable  # the push had something to change
    assert sandbox.units_on(service_id, first_day) == billable
    context.close()
