"""Post/redirect/get on every form (issue 17.7): each action answers 303 to a page, that page shows the outcome
once, and reloading it sends nothing again. Also: web errors speak web words, the pager never reads "51–34 of 34"
or "0–0 of 0", and the Operators page (list, add, change role, remove; the tenant keeps an admin)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from seatsync.db.engine import transaction
from seatsync.db.models import ApiToken
from seatsync.sandboxes.server import BackgroundServer
from tests.web.conftest import World
from tests.web.test_pages import form_login


def _post(client: TestClient, path: str, csrf: str, **data: str) -> str:
    r = client.post(path, data={"csrf_token": csrf, **data}, follow_redirects=False)
    assert r.status_code == 303, (path, r.status_code, r.text[:300])
    return r.headers["location"]


def _flash(html: str) -> str | None:
    found = re.search(r'<div class="notice notice-(\w+)" role="status">(.*?)</div>', html, re.S)
    return f"{found.group(1)}: {found.group(2).strip()}" if found else None


def test_every_integrations_form_redirects(app_client: TestClient, connected: BackgroundServer) -> None:
    csrf = form_login(app_client, "admin@a.test")
    steps = [
        ("/integrations/connectwise/check", {}, "ok: The connection works and every right is granted."),
        ("/integrations/notifications/add", {"kind": "email", "address": "ops@a.test"}, "ok: Notifications now go to"),
        ("/integrations/connectwise/disconnect", {}, "ok: ConnectWise disconnected"),
        ("/integrations/gradient/disconnect", {}, "ok: Gradient was not connected: nothing to forget."),
    ]
    for path, data, said in steps:
        location = _post(app_client, path, csrf, **data)
        assert location == "/integrations"
        shown = app_client.get(location).text
        assert (_flash(shown) or "").startswith(said), (path, _flash(shown))
        assert _flash(app_client.get(location).text) is None, "the outcome is shown once; a reload sends nothing"
    # a refused form answers with the page and the reason, and its status (nothing was done)
    refused = app_client.post("/integrations/gradient/sync", data={"csrf_token": csrf}, follow_redirects=False)
    assert refused.status_code == 409 and "Gradient is not connected" in refused.text, refused.status_code
    # after the check's redirect the page still lists the rights it found
    _post(app_client, "/integrations/connectwise/connect", csrf, site=connected.url, company_id="demo",
          public_key="demo-public", private_key="demo-private", client_id="3f1c2a4e-0000-4000-8000-000000000001")  # fmt: skip
    page = app_client.get("/integrations").text
    assert "Connected to ConnectWise: every right is granted." in page and "granted" in page


def test_a_failed_connect_keeps_working_credentials(app_client: TestClient, connected: BackgroundServer) -> None:
    """Issue 15: a mistyped private key is reported, not stored; billing keeps working with the old keys."""
    csrf = form_login(app_client, "admin@a.test")
    _post(app_client, "/integrations/connectwise/connect", csrf, site=connected.url, company_id="demo",
          public_key="demo-public", private_key="mistyped", client_id="3f1c2a4e-0000-4000-8000-000000000001")  # fmt: skip
    shown = _flash(app_client.get("/integrations").text) or ""
    assert shown.startswith("error: The new credentials failed their check") and "working connection is kept" in shown
    assert app_client.get("/api/v1/connectwise").json()["status"] == "connected"
    assert app_client.get("/api/v1/mapper/connectwise/choices/company", params={"q": "Acme"}).status_code == 200
    answer = app_client.post(
        "/api/v1/connectwise/connect",
        json={
            "site": connected.url,
            "company_id": "demo",
            "public_key": "demo-public",
            "private_key": "bad",
            "client_id": "3f1c2a4e-0000-4000-8000-000000000001",
        },
        headers={"X-CSRF-Token": csrf},
    )
    assert answer.status_code == 200 and answer.json()["status"] == "connected", answer.text


def test_web_errors_speak_web(app_client: TestClient, connected: BackgroundServer) -> None:
    csrf = form_login(app_client, "admin@a.test")
    data = {"csrf_token": csrf, "site": connected.url, "company_id": "demo", "public_key": "demo-public"}
    r = app_client.post("/integrations/connectwise/connect", data={**data, "private_key": "demo-private"})
    shown = _flash(r.text) or ""
    assert "Client ID is required" in shown and "--client-id" not in shown, shown


def test_tokens_and_upload_redirect_and_show_once(world: World, app_client: TestClient) -> None:
    csrf = form_login(app_client, "admin@a.test")
    assert _post(app_client, "/tokens", csrf, name="from the page", role="viewer") == "/tokens"
    page = app_client.get("/tokens").text
    secret = re.search(r'id="secret" class="secret" readonly value="([^"]+)"', page)
    assert secret and "will not be shown again" in page
    again = app_client.get("/tokens").text
    assert secret.group(1) not in again, "the token is shown once"
    with transaction(world.engine) as session:
        assert session.scalar(select(func.count()).select_from(ApiToken)) == 1
    token_id = re.search(r'action="/tokens/(\d+)/revoke"', again)
    assert token_id
    assert _post(app_client, f"/tokens/{token_id.group(1)}/revoke", csrf) == "/tokens"

    files = {"file": ("companies.csv", b"company_id,name\nz-1,Zulu Ltd\n", "text/csv")}
    r = app_client.post(
        "/companies/upload", data={"csrf_token": csrf, "kind": "companies"}, files=files, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/companies"
    assert "companies.csv" in (_flash(app_client.get("/companies").text) or "")
    assert _post(app_client, "/companies/rule", csrf, company_id="z-1", rule="peak") == "/companies"


def test_operators_page(app_client: TestClient) -> None:
    csrf = form_login(app_client, "admin@a.test")
    page = app_client.get("/operators").text
    assert "admin@a.test" in page and "viewer@a.test" in page
    assert (
        _post(app_client, "/operators", csrf, email="new@a.test", password="long enough pw", role="viewer")
        == "/operators"
    )
    page = app_client.get("/operators").text
    assert "new@a.test added as viewer." in page
    new_id = re.search(
        r'action="/operators/(\d+)/role"[^>]*>\s*<input[^>]*>\s*<label class="sr-only" for="role-\d+">Role of new@a.test',
        page,
    )
    assert new_id, page
    assert _post(app_client, f"/operators/{new_id.group(1)}/role", csrf, role="admin") == "/operators"
    assert "new@a.test is now admin." in app_client.get("/operators").text
    # the last admin stays: demoting both others first, then the last one is refused
    assert _post(app_client, f"/operators/{new_id.group(1)}/remove", csrf) == "/operators"
    assert "new@a.test removed" in app_client.get("/operators").text
    me = re.search(
        r'action="/operators/(\d+)/role"[^>]*>\s*<input[^>]*>\s*<label class="sr-only" for="role-\d+">Role of admin@a.test',
        app_client.get("/operators").text,
    )
    assert me
    _post(app_client, f"/operators/{me.group(1)}/role", csrf, role="viewer")
    assert "is the tenant&#39;s last admin" in app_client.get("/operators").text


def test_operators_page_is_for_admins(app_client: TestClient) -> None:
    form_login(app_client, "viewer@a.test")
    assert app_client.get("/operators").status_code == 403


def test_pager_never_reads_past_the_end(app_client: TestClient) -> None:
    form_login(app_client, "admin@a.test")
    page = app_client.get("/connectwise/billing", params={"page": 2}).text
    assert "1–5 of 5" in page and "page 1 of 1" in page
    empty = app_client.get("/connectwise/billing", params={"q": "no such company"}).text
    assert "0–0 of 0" not in empty and "Nothing to show" in empty
    companies = app_client.get("/companies", params={"page": 3}).text
    assert "1–5 of 5" in companies
