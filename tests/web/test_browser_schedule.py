"""The Integrations page's schedule form in headless Chromium: "Skip rows whose period is already invoiced" is
offered only while the chosen target can tell which periods are invoiced (ConnectWise), and a schedule saved with
it says so in the list."""

from __future__ import annotations

from playwright.sync_api import Browser, expect
from sqlalchemy import Engine

from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from tests.web.test_browser import browser, login, pytestmark, site

__all__ = ["browser", "pytestmark", "site"]  # the fixtures and the mark, used here


def test_the_skip_invoiced_box_follows_the_target(
    browser: Browser, site: tuple[str, Engine, ConnectWiseSandbox]
) -> None:
    base, _engine, _sandbox = site
    context = browser.new_context()
    page = context.new_page()
    login(page, base, "admin@a.test")
    page.goto(f"{base}/integrations")
    form = page.locator("#schedule-form")
    box = form.get_by_label("Skip rows whose period is already invoiced")
    target = form.get_by_label("Target")
    expect(target).to_have_value("connectwise")
    expect(box).to_be_visible()
    box.check()
    for other in ("autotask", "halopsa", "gradient"):
        target.select_option(other)
        expect(box).to_be_hidden()
        expect(box).not_to_be_checked()  # nothing hidden is sent
    target.select_option("connectwise")
    expect(box).to_be_visible()
    box.check()
    form.get_by_role("button", name="Save schedule").click()
    expect(page.locator("tr[data-target='connectwise']")).to_contain_text(
        "skipping rows whose period is already invoiced"
    )
    expect(page.locator("tr[data-target='gradient']")).not_to_contain_text("invoiced")
    context.close()
