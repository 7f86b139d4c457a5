"""Post/redirect/get on every form of the web app (issue 17.7): each form action, done, answers 303 to a page that
answers a GET; the page shows the action's outcome once and a reload (the same GET again) shows the page without
it, so a browser never stays on a POST address a reload would send again. The list below must name every POST
route of the pages: a new form fails this test until it is added (and redirects)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.routing import Route

from seatsync.config import get_settings
from seatsync.db.engine import transaction
from seatsync.db.models import Operator, PushRun
from seatsync.sandboxes.autotask import DEMO_INTEGRATION_CODE, AutotaskSandbox
from seatsync.sandboxes.autotask import create_app as create_at_app
from seatsync.sandboxes.gradient import DEMO_PARTNER_TOKEN, DEMO_VENDOR_KEY
from seatsync.sandboxes.gradient import create_app as create_gradient_app
from seatsync.sandboxes.halopsa import HaloPSASandbox
from seatsync.sandboxes.halopsa import create_app as create_halo_app
from seatsync.sandboxes.server import BackgroundServer
from seatsync.web.app import create_app
from tests.web.conftest import World
from tests.web.test_automation_web import held
from tests.web.test_pages import form_login


@dataclass
class Servers:
    cw: str
    autotask: str
    halopsa: str
    gradient: str


@pytest.fixture
def servers(connected: BackgroundServer) -> Iterator[Servers]:
    with (
        BackgroundServer(create_at_app(AutotaskSandbox(seed="demo", slowdown_ms=0))) as at,
        BackgroundServer(create_halo_app(HaloPSASandbox(seed="demo", rate_limit=None))) as halo,
        BackgroundServer(create_gradient_app(rate_limit=None)) as gradient,
    ):
        yield Servers(connected.url, at.url, halo.url, gradient.url)


@pytest.fixture
def client(world: World, servers: Servers, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("SEATSYNC_GRADIENT_VENDOR_KEY", DEMO_VENDOR_KEY)
    get_settings.cache_clear()
    app = create_app(settings=get_settings(), engine=world.engine, clock=world.clock)
    with TestClient(app) as made:
        yield made
    app.state.seatsync.dispatcher.wait(30)
    get_settings.cache_clear()


def _flash(html: str) -> str | None:
    found = re.search(r'<div class="notice notice-(\w+)" role="status">(.*?)</div>', html, re.S)
    return f"{found.group(1)}: {found.group(2).strip()}" if found else None


def _map_first_company(client: TestClient, target: str, company: str, csrf: str) -> None:
    """Map the company to the PSA's first company (the switch keeps the chain above the item)."""
    level = "client" if target == "halopsa" else "company"
    found = client.get(f"/api/v1/mapper/{target}/choices/{level}", params={"q": "Acme"})
    assert found.status_code == 200 and found.json(), (target, found.text)
    field, url = {"connectwise": ("cw_company_id", "/api/v1/mappings/"), "autotask": ("at_company_id", "/api/v1/autotask/mappings/"),
                  "halopsa": ("client_id", "/api/v1/halopsa/mappings/")}[target]  # fmt: skip
    saved = client.put(url + company, json={field: int(found.json()[0]["id"])}, headers={"X-CSRF-Token": csrf})
    assert saved.status_code == 200, (target, saved.text)


def _page_form_routes(client: TestClient) -> set[str]:
    return {
        route.path
        for route in client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route) and "POST" in (route.methods or ()) and not route.path.startswith("/api/")
    }


def test_every_form_action_redirects_to_a_page_and_a_reload_sends_nothing(
    client: TestClient, world: World, servers: Servers
) -> None:
    done: set[str] = set()

    def post(route: str, data: dict[str, str] | None = None, *, path: str | None = None, said: str | None = None,
             to: str | None = None, files: dict[str, tuple[str, bytes, str]] | None = None) -> str:  # fmt: skip
        answer = client.post(
            path or route, data={"csrf_token": csrf, **(data or {})}, files=files, follow_redirects=False
        )
        assert answer.status_code == 303, (route, answer.status_code, _flash(answer.text) or answer.text[:300])
        location = answer.headers["location"]
        assert to is None or location.split("#")[0] == to, (route, location)
        shown = client.get(location)
        assert shown.status_code == 200 and "<html" in shown.text, (route, location, shown.status_code)
        if said is not None:
            assert (_flash(shown.text) or "").startswith(said), (route, _flash(shown.text))
            again = client.get(location)  # the browser's reload: the GET again, the outcome not shown twice
            assert again.status_code == 200 and _flash(again.text) is None, (route, _flash(again.text))
        done.add(route)
        return location

    # logging in is a form too (it redirects to the page asked for)
    csrf = form_login(client, "admin@a.test")
    done.add("/login")

    post("/companies/upload", {"kind": "companies"}, to="/companies", said="ok: companies.csv",
         files={"file": ("companies.csv", b"company_id,name\nz-1,Zulu Ltd\n", "text/csv")})  # fmt: skip
    post("/companies/rule", {"company_id": "z-1", "rule": "peak"}, to="/companies")
    post("/companies/archive", {"company_id": "z-1"}, to="/companies", said="ok: Zulu Ltd archived: 2026-10")
    post("/companies/archive", {"company_id": "z-1"}, to="/companies", said="ok: Zulu Ltd archived")
    post("/tokens", {"name": "script", "role": "viewer"}, to="/tokens", said="ok: Token “script” created")
    token_id = re.search(r'action="/tokens/(\d+)/revoke"', client.get("/tokens").text)
    assert token_id
    post("/tokens/{token_id}/revoke", path=f"/tokens/{token_id.group(1)}/revoke", to="/tokens")

    post("/operators", {"email": "new@a.test", "password": "long enough pw", "role": "viewer"}, to="/operators",
         said="ok: new@a.test added as viewer.")  # fmt: skip
    with transaction(world.engine) as session:
        new_id = session.scalar(select(Operator.id).where(Operator.email == "new@a.test"))
    post("/operators/{operator_id}/role", {"role": "admin"}, path=f"/operators/{new_id}/role", to="/operators",
         said="ok: new@a.test is now admin.")  # fmt: skip
    post("/operators/{operator_id}/remove", path=f"/operators/{new_id}/remove", to="/operators",
         said="ok: new@a.test removed")  # fmt: skip

    catalog = {"subcategory": "Security", "product_type": "Service"}
    for item in ("all", "sat", "phishing"):
        catalog |= {f"identifier_{item}": f"AWARE-{item.upper()}", f"description_{item}": f"Awareness {item}"}
    post("/connectwise/catalog", catalog, to="/connectwise/catalog",
         said="ok: Catalog settings saved.")  # fmt: skip

    integrations = "/integrations"
    post("/integrations/connectwise/connect", {"site": servers.cw, "company_id": "demo", "public_key": "demo-public",
         "private_key": "demo-private", "client_id": "3f1c2a4e-0000-4000-8000-000000000001"}, to=integrations,
         said="ok: Connected to ConnectWise")  # fmt: skip
    post("/integrations/connectwise/check", to=integrations, said="ok: The connection works")
    post("/integrations/autotask/connect", {"username": "demo-api@example.com", "secret": "demo-secret",
         "integration_code": DEMO_INTEGRATION_CODE, "zone_url": servers.autotask}, to=integrations,
         said="ok: Connected to Autotask: every permission is granted.")  # fmt: skip
    page = client.get(integrations).text
    assert 'id="at-permissions"' in page, "the check's permissions are listed after its redirect"
    post("/integrations/autotask/check", to=integrations, said="ok: Connected to Autotask")
    post("/integrations/halopsa/connect", {"url": servers.halopsa, "client_id": "demo-client",
         "client_secret": "demo-secret"}, to=integrations,
         said="ok: Connected to HaloPSA: every permission is granted.")  # fmt: skip
    assert 'id="halo-permissions"' in client.get(integrations).text
    post("/integrations/halopsa/check", to=integrations, said="ok: Connected to HaloPSA")
    post("/integrations/gradient/connect", {"token": DEMO_PARTNER_TOKEN, "url": servers.gradient}, to=integrations,
         said="ok: Connected to Gradient")  # fmt: skip
    post("/integrations/gradient/sync", to=integrations, said="ok: Company accounts synced")

    post("/integrations/schedule", {"target": "autotask", "day": "5", "at": "06:00", "period": "previous"},
         to=integrations, said="ok: autotask: day 5 of each month at 06:00")  # fmt: skip
    post("/integrations/schedule/{target}/off", path="/integrations/schedule/autotask/off", to=integrations,
         said="ok: autotask: no scheduled push.")  # fmt: skip
    post("/integrations/notifications/add", {"kind": "email", "address": "ops@a.test"}, to=integrations,
         said="ok: Notifications now go to")  # fmt: skip
    channel = re.search(r'action="/integrations/notifications/(\d+)/remove"', client.get(integrations).text)
    assert channel
    post("/integrations/notifications/{channel_id}/remove", path=f"/integrations/notifications/{channel.group(1)}/remove",
         to=integrations, said="ok: Removed")  # fmt: skip
    # "Choose a board" goes to a page listing the boards (a reload lists them again); saving one redirects
    boards = post("/integrations/tickets/{target}/boards", path="/integrations/tickets/connectwise/boards",
                  to="/integrations/tickets/connectwise/boards")  # fmt: skip
    assert '<option value="2" >Billing</option>' in client.get(boards).text
    post("/integrations/tickets/{target}/board", {"board_id": "2"}, path="/integrations/tickets/connectwise/board",
         to=integrations, said="ok: Tickets now go to the service board Billing.")  # fmt: skip

    # a mapper row's "Bill products separately" and back, on every PSA's mapper: back to the same page
    seeded = {"connectwise": "a-001", "autotask": "a-001", "halopsa": "a-001"}
    for target, company in seeded.items():
        page = f"/{target}/billing?filter=all"
        _map_first_company(client, target, company, csrf)
        post("/{target}/billing/products", {"company_id": company, "mode": "separate", "back": page},
             path=f"/{target}/billing/products", to=page, said="ok: Acme Corp: each product has its own")  # fmt: skip
        post("/{target}/billing/products", {"company_id": company, "mode": "together", "back": page},
             path=f"/{target}/billing/products", to=page, said="ok: Acme Corp: one")  # fmt: skip

    run_id = held(world)
    post("/approvals/{run_id}", {"action": "reject-all"}, path=f"/approvals/{run_id}", to="/approvals",
         said="ok: Rejected 2 rows: not sent.")  # fmt: skip

    # Push now, for every registered target: to the run's page
    for target in ("connectwise", "autotask", "halopsa", "gradient"):
        location = post("/integrations/push", {"target": target, "period": "2026-09"})
        assert re.fullmatch(r"/history/\d+", location), location
        client.app.state.seatsync.dispatcher.wait(30)  # type: ignore[attr-defined]
    with transaction(world.engine) as session:
        pushed = set(session.scalars(select(PushRun.target).where(PushRun.period == "2026-09")))
    assert pushed == {"connectwise", "autotask", "halopsa", "gradient"}

    # Disconnect, one form action for every registered target, in the same words as `seatsync disconnect`
    for target, label, forgot in [("autotask", "Autotask", "the secret"), ("halopsa", "HaloPSA", "the client secret"),
                                  ("gradient", "Gradient", "the partner token"), ("connectwise", "ConnectWise", "the keys")]:  # fmt: skip
        post("/integrations/{target}/disconnect", path=f"/integrations/{target}/disconnect", to=integrations,
             said=f"ok: {label} disconnected: {forgot}")  # fmt: skip
    post("/integrations/{target}/disconnect", path="/integrations/autotask/disconnect", to=integrations,
         said="ok: Autotask was not connected: nothing to forget.")  # fmt: skip
    post("/logout", to="/login")

    assert _page_form_routes(client) - done == set(), "every form action is covered here"


def test_an_unknown_push_target_is_refused_naming_the_known_ones(app_client: TestClient) -> None:
    csrf = form_login(app_client, "admin@a.test")
    refused = app_client.post("/integrations/push", data={"csrf_token": csrf, "target": "nope", "period": "2026-09"})
    assert refused.status_code == 404 and "no billing target" in refused.text and "halopsa" in refused.text
    history = app_client.get("/history").text
    for label in ("ConnectWise", "Autotask", "HaloPSA", "Gradient"):
        assert f">{label}</a>" in history, label
    assert app_client.get("/history", params={"target": "halopsa"}).status_code == 200
    assert app_client.get("/history", params={"target": "nope"}).status_code == 404
