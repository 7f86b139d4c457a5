"""The mapper's "Mapping Saved" right after a save reads as after a reload: the date in the tenant's zone (and
"by … at <local time>" on hover), not the UTC date of ``saved_at``. In headless Chromium, for a tenant at UTC+14
and one at UTC-12: at any instant at least one of them has a local date other than UTC's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Engine, select

from seatsync.db.engine import transaction
from seatsync.db.models import CWMapping
from seatsync.domain.periods import local_date, shown_instant, time_zone
from tests.web.test_browser import browser, login, pytestmark, serve_site

__all__ = ["browser", "pytestmark"]  # the fixture and the mark, used here


@pytest.fixture(params=["Pacific/Kiritimati", "Etc/GMT+12"])
def zoned_site(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[tuple[str, Engine, str]]:
    zone = str(request.param)
    for base, engine, _sandbox in serve_site(sqlite_url, zone=zone):
        yield base, engine, zone


def saved_cell(page: Page) -> tuple[str, str]:
    cell = page.locator("tr[data-company='a-001'] td.saved")
    return cell.inner_text().strip(), cell.get_attribute("title") or ""


def test_mapping_saved_shows_the_tenants_date_at_once(browser: Browser, zoned_site: tuple[str, Engine, str]) -> None:
    base, engine, zone = zoned_site
    context = browser.new_context()
    page = context.new_page()
    login(page, base, "admin@a.test")
    expect(page.locator("tr[data-company='a-001'] td.saved")).to_have_text("—")

    row = page.locator("tr[data-company='a-001']")
    row.get_by_role("combobox", name="ConnectWise Company Acme Corp").fill("Acme")
    page.get_by_role("option", name="Acme Corporation").click()
    expect(page.locator("#toast")).to_contain_text("Mapping Saved: Acme Corp")
    expect(row).to_have_class("just-saved")
    after_save = saved_cell(page)

    with transaction(engine) as session:
        saved_at = session.scalars(select(CWMapping.saved_at)).one()
    local = time_zone(zone)
    assert after_save == (local_date(saved_at, local), f"by admin@a.test at {shown_instant(saved_at, local)}")
    page.reload()
    assert saved_cell(page) == after_save  # the reload shows what the save showed
    context.close()
