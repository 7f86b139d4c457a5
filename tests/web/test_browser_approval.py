"""A push by hand on the mapper, in headless Chromium at 1280 px: with an approval threshold, the Push Billing
dialog highlights the row over it (before → proposed, the change in seats and percent) and asks; unticked, the
row waits on Approvals; ticked in Preview, it is sent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import Engine

from seatsync.config import get_settings
from seatsync.db.engine import make_engine, transaction
from seatsync.db.migrate import upgrade
from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from seatsync.sandboxes.connectwise import create_app as create_cw_app
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services import automation
from seatsync.services.tenants import get_tenant
from seatsync.web.app import create_app
from tests.web.conftest import FakeClock, World, connect_cw, seed_tenant
from tests.web.test_automation_acceptance import map_companies
from tests.web.test_browser import browser as browser
from tests.web.test_browser import login, shot

pytestmark = pytest.mark.browser


@pytest.fixture
def threshold_site(sqlite_url: str) -> Iterator[tuple[str, Engine, ConnectWiseSandbox, dict[str, int]]]:
    """Alpha MSP on the ConnectWise sandbox, the clock in mid-October, approval above 50 %: a-002 goes 1 → 3."""
    engine = make_engine(sqlite_url)
    upgrade(engine)
    clock = FakeClock()
    slug = seed_tenant(engine, "Alpha MSP", "a")
    sandbox = ConnectWiseSandbox(seed=None)
    with BackgroundServer(create_cw_app(sandbox)) as cw_server:
        connect_cw(engine, slug, cw_server.url)
        additions = map_companies(World(engine, clock, {"a": slug}), sandbox)
        with transaction(engine) as session:
            tenant = get_tenant(session, slug=slug)
            automation.set_threshold(session, tenant=tenant, target="connectwise", percent=50, seats=None, by="t")
        app = create_app(settings=get_settings(), engine=engine, clock=clock)
        with BackgroundServer(app) as web:
            yield web.url, engine, sandbox, additions
            app.state.seatsync.dispatcher.wait(30)
    engine.dispose()


def test_push_billing_highlights_the_row_over_the_threshold_and_asks(
    browser: Browser,
    threshold_site: tuple[str, Engine, ConnectWiseSandbox, dict[str, int]],
) -> None:
    base, _engine, sandbox, additions = threshold_site
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    login(page, base, "admin@a.test")
    page.goto(f"{base}/connectwise/billing?period=2026-10")

    # Push Billing asks about the row over the threshold, highlighted, before sending anything
    page.get_by_role("button", name="Push Billing").click()
    dialog = page.locator("#push-confirm")
    question = dialog.locator("#push-over")
    expect(question).to_be_visible()
    expect(question).to_contain_text("1 change goes over the approval threshold (more than 50%)")
    highlighted = question.locator("tr.over-threshold")
    expect(highlighted).to_have_count(1)
    expect(highlighted).to_contain_text("Northwind Traders")
    expect(highlighted.locator("td")).to_have_text(["Northwind Traders", "1", "3", "+2 seats, +200%"])
    tick = dialog.get_by_label("Send this change too: Northwind Traders (1 → 3)")
    expect(tick).not_to_be_checked()
    assert dialog.evaluate("d => d.getBoundingClientRect().right") <= 1280
    shot(page, "approval-01-push-asks")

    # unticked: the others are pushed, the row waits for approval
    dialog.get_by_role("button", name="Push Billing").click()
    expect(page.locator("#push-progress")).to_contain_text("1 waiting for approval", timeout=30_000)
    expect(page.locator("tr[data-company='a-002'] .status")).to_have_text("Waiting for approval")
    assert float(sandbox.additions[additions["a-002"]]["quantity"]) == 1

    # Preview highlights the same row; ticked there, it is sent
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#preview")
    expect(preview.locator("tbody tr.over-threshold")).to_have_count(1)
    expect(preview.locator("tbody tr.over-threshold").first).to_contain_text("over the approval threshold: +2 seats")
    shot(page, "approval-02-preview")
    preview.get_by_label("Send this change too: Northwind Traders (1 → 3)").check()
    preview.get_by_role("button", name="Push these changes").click()
    expect(page.locator("#push-progress")).to_contain_text("Done", timeout=30_000)
    expect(page.locator("tr[data-company='a-002'] .status")).to_contain_text("Pushed")
    assert float(sandbox.additions[additions["a-002"]]["quantity"]) == 3
