"""Pushes followed live in headless Chromium (issue 17.3): on the ConnectWise mapper with the sandbox's faults on,
rows change as their results arrive (before the run ends), a pause says it is waiting, retried rows say so, and the
summary stays; Gradient's "Push now" lands on the run's page, which follows the run without a reload."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import Engine

from seatsync.config import get_settings
from seatsync.db.engine import make_engine, transaction
from seatsync.db.migrate import upgrade
from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from seatsync.sandboxes.connectwise import create_app as create_cw_app
from seatsync.sandboxes.gradient import DEMO_PARTNER_TOKEN, DEMO_VENDOR_KEY
from seatsync.sandboxes.gradient import create_app as create_gradient_app
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services import connectwise_connection as cw
from seatsync.services import gradient as gradient_service
from seatsync.services import mappings
from seatsync.services.tenants import get_tenant
from seatsync.web.app import create_app
from tests.web.conftest import connect_cw, seed_tenant
from tests.web.test_browser import browser, login, shot  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.browser

#: how long the held requests wait: longer than the page's 0.7 s poll and its 4 s "waiting" mark together
HOLD_SECONDS = 2.5


class Held:
    """ASGI wrapper: the first ``times`` requests ``matches`` picks wait ``HOLD_SECONDS``, then answer 500 (a server
    fault the client retries) or, with ``fail=False``, go through. Deterministic, unlike the random faults beside."""

    def __init__(self, app: Any, matches: Any, *, times: int, fail: bool = True) -> None:
        self.app, self.matches, self.left, self.fail = app, matches, times, fail

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.left > 0 and self.matches(scope):
            self.left -= 1
            await asyncio.sleep(HOLD_SECONDS)
            if self.fail:
                body = b'{"code": "ConnectWiseApi", "message": "An unexpected error occurred (held fault)."}'
                await send({"type": "http.response.start", "status": 500,
                            "headers": [(b"content-type", b"application/json")]})  # fmt: skip
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def _map(engine: Engine, names: dict[str, str]) -> dict[str, int]:
    """Map each seatsync company to the ConnectWise company of that name: its addition ids."""
    additions = {}
    with transaction(engine) as session:
        tenant = get_tenant(session, slug="alpha-msp")
        with cw.client_for(session, tenant=tenant) as client:
            by_name = {c.name: c for c in client.list_companies()}
            for company_id, name in names.items():
                company = by_name[name]
                agreement = next(a for a in mappings.cw_agreements(client, cw_company=company.id) if a.active)
                addition = next(a for a in mappings.cw_additions(client, agreement=agreement.id) if not a.cancelled)
                mappings.set_mapping(session, tenant=tenant, company_id=company_id, cw_company=company.id,
                                     agreement=agreement.id, addition=addition.id, by="test", client=client)  # fmt: skip
                additions[company_id] = addition.id
    return additions


@pytest.fixture
def faulty_site(sqlite_url: str) -> Iterator[tuple[str, Engine, ConnectWiseSandbox, dict[str, int]]]:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    seed_tenant(engine, "Alpha MSP", "a")
    sandbox = ConnectWiseSandbox(seed="demo")
    held: dict[str, Any] = {}
    app = Held(create_cw_app(sandbox), lambda scope: scope["method"] == "GET"
               and scope["path"].rstrip("/").endswith(held.get("path", "?")), times=2)  # fmt: skip
    with BackgroundServer(app) as cw_server:
        connect_cw(engine, "alpha-msp", cw_server.url)
        additions = _map(engine, {"a-001": "Acme Corporation", "a-002": "Northwind Traders",
                                  "a-004": "Globex Logistics"})  # fmt: skip
        # Northwind's addition is read slowly and refused twice; the rest meet the sandbox's own faults
        held["path"] = _addition_path(sandbox, additions["a-002"])
        sandbox.configure(fault_rate=0.2)
        web_app = create_app(settings=get_settings(), engine=engine)
        with BackgroundServer(web_app) as web:
            yield web.url, engine, sandbox, additions
            web_app.state.seatsync.dispatcher.wait(60)
    engine.dispose()


def _addition_path(sandbox: ConnectWiseSandbox, addition_id: int) -> str:
    with sandbox.lock:
        agreement = sandbox.additions[addition_id]["agreementId"]
    return f"/apis/3.0/finance/agreements/{agreement}/additions/{addition_id}"


def test_rows_update_live_during_a_push_with_faults(
    browser: Browser,  # noqa: F811 - the fixture
    faulty_site: tuple[str, Engine, ConnectWiseSandbox, dict[str, int]],
) -> None:
    base, _engine, _sandbox, _additions = faulty_site
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    login(page, base, "admin@a.test")
    page.get_by_role("button", name="Push Billing").click()
    page.locator("#push-confirm").get_by_role("button", name="Push Billing").click()
    progress = page.locator("#push-progress")
    expect(progress).to_be_visible()
    # Acme's row changes while the run is still going (Northwind is held): rows update as results arrive
    page.wait_for_function(
        """() => document.querySelector("tr[data-company='a-001'] .status-ok, tr[data-company='a-001'] .status-bad")
               && !document.getElementById('push-progress').classList.contains('done')""",
        timeout=60_000,
    )
    expect(progress.locator(".progress-text")).to_contain_text("Pushing…")
    # nothing new for a while: the bar says it is waiting, not frozen
    expect(progress.locator(".progress-text")).to_contain_text("waiting for ConnectWise", timeout=30_000)
    shot(page, "live-push-waiting")
    expect(progress).to_have_class(re.compile(r"\bdone\b"), timeout=60_000)
    summary = progress.locator(".progress-text")
    expect(summary).to_contain_text("Done:")
    # Northwind, refused twice then read, ends with its row's outcome like the others
    expect(page.locator("tr[data-company='a-002'] .status-ok, tr[data-company='a-002'] .status-bad")).to_be_visible()
    page.wait_for_timeout(3000)  # the summary stays (it used to vanish after a second)
    expect(summary).to_contain_text("Done:")
    expect(progress).to_be_visible()
    shot(page, "live-push-done")
    context.close()


@pytest.fixture
def gradient_site(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Engine]]:
    monkeypatch.setenv("SEATSYNC_GRADIENT_VENDOR_KEY", DEMO_VENDOR_KEY)
    get_settings.cache_clear()
    engine = make_engine(sqlite_url)
    upgrade(engine)
    seed_tenant(engine, "Alpha MSP", "a")
    # every count waits: the run lasts seconds, so its page is seen running and then finished, without a reload
    slow = Held(create_gradient_app(rate_limit=None), lambda scope: scope["path"].endswith("/count"), times=100,
                fail=False)  # fmt: skip
    with BackgroundServer(slow) as gradient:
        with transaction(engine) as session:
            tenant = get_tenant(session, slug="alpha-msp")
            gradient_service.connect(session, tenant=tenant, token=DEMO_PARTNER_TOKEN, url=gradient.url)
        web_app = create_app(settings=get_settings(), engine=engine)
        with BackgroundServer(web_app) as web:
            yield web.url, engine
            web_app.state.seatsync.dispatcher.wait(60)
    engine.dispose()
    get_settings.cache_clear()


def test_gradient_push_now_page_follows_the_run(
    browser: Browser,  # noqa: F811 - the fixture
    gradient_site: tuple[str, Engine],
) -> None:
    base, _engine = gradient_site
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    login(page, base, "admin@a.test")
    page.goto(f"{base}/integrations")
    page.get_by_role("button", name="Push to Gradient").click()
    expect(page.get_by_role("heading", name=re.compile(r"Run #\d+: Gradient for"))).to_be_visible()
    status = page.locator("#run-status")
    expect(status).to_contain_text("this page follows it")
    page.evaluate("() => { window.notReloaded = true; }")
    expect(status).to_contain_text("succeeded", timeout=60_000)
    assert page.evaluate("() => window.notReloaded === true"), "the page followed the run without a reload"
    expect(page.locator("#run-live tbody tr")).to_have_count(10)  # 5 companies x 2 services
    expect(page.locator("#run-live")).to_contain_text("Security Awareness Training")
    shot(page, "gradient-run-followed")
    context.close()
