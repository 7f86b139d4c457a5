"""Server-rendered pages: login form with CSRF, every page renders, forms are protected, viewers see no controls."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from seatsync.sandboxes.server import BackgroundServer
from tests.web.conftest import PASSWORD


def form_login(client: TestClient, email: str, password: str = PASSWORD) -> str:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    r = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token.group(1), "next": "/history"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/history"
    home = client.get("/connectwise/billing")
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', home.text)
    assert csrf
    return csrf.group(1)


def test_pages_need_login(app_client: TestClient) -> None:
    r = app_client.get("/connectwise/billing", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_login_form_rejects_missing_csrf_and_wrong_password(app_client: TestClient) -> None:
    r = app_client.post("/login", data={"email": "admin@a.test", "password": PASSWORD})
    assert r.status_code == 403
    page = app_client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    r = app_client.post(
        "/login", data={"email": "admin@a.test", "password": "bad-password", "csrf_token": token.group(1)}
    )
    assert r.status_code == 401 and "the email or password is not right" in r.text


def test_every_page_renders_for_admin(app_client: TestClient, connected: BackgroundServer) -> None:
    csrf = form_login(app_client, "admin@a.test")
    for path in (
        "/connectwise/billing",
        "/integrations",
        "/history",
        "/companies",
        "/tokens",
        "/connectwise/billing?filter=failed&q=acme",
    ):
        r = app_client.get(path)
        assert r.status_code == 200, path
        assert "Content-Security-Policy" in r.headers
    mapper = app_client.get("/connectwise/billing").text
    assert "Push Billing" in mapper and "Acme Corp" in mapper and "Billing Period" in mapper and "Last Push" in mapper
    r = app_client.post("/integrations/connectwise/check", data={"csrf_token": csrf})
    assert r.status_code == 200 and "every right is granted" in r.text
    r = app_client.post("/integrations/connectwise/check", data={"csrf_token": "forged"})
    assert r.status_code == 403
    r = app_client.post("/tokens", data={"csrf_token": csrf, "name": "from page", "role": "viewer"})
    assert r.status_code == 200 and "will not be shown again" in r.text
    files = {"file": ("companies.csv", b"company_id,name\n,\n", "text/csv")}
    r = app_client.post("/companies/upload", data={"csrf_token": csrf, "kind": "companies"}, files=files)
    assert r.status_code == 422 and "Nothing was stored" in r.text


def test_viewer_sees_no_push_or_credentials(app_client: TestClient, connected: BackgroundServer) -> None:
    csrf = form_login(app_client, "viewer@a.test")
    mapper = app_client.get("/connectwise/billing").text
    assert 'id="push-open"' not in mapper and "needs the admin role" in mapper
    integrations = app_client.get("/integrations").text
    assert "Private key" not in integrations and "Partner token" not in integrations
    assert app_client.get("/tokens").status_code == 403
    assert app_client.post("/integrations/connectwise/disconnect", data={"csrf_token": csrf}).status_code == 403


def test_logout(app_client: TestClient) -> None:
    csrf = form_login(app_client, "admin@a.test")
    r = app_client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert app_client.get("/connectwise/billing", follow_redirects=False).status_code == 303


def test_companies_page_sets_a_company_rule(app_client: TestClient) -> None:
    csrf = form_login(app_client, "admin@a.test")
    page = app_client.get("/companies").text
    assert "Billing rule" in page and "tenant's (active)" in page
    r = app_client.post(
        "/companies/rule", data={"csrf_token": csrf, "company_id": "a-003", "rule": "peak"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/companies"
    row = app_client.get("/companies", params={"q": "a-003"}).text
    assert '<option value="peak" selected>peak</option>' in row
    assert app_client.get("/api/v1/companies/a-003").json()["billing_rule"] == "peak"
    r = app_client.post("/companies/rule", data={"csrf_token": csrf, "company_id": "a-003", "rule": ""})
    assert app_client.get("/api/v1/companies/a-003").json()["billing_rule"] is None
    assert app_client.post("/companies/rule", data={"csrf_token": "forged", "company_id": "a-003"}).status_code == 403


def test_companies_page_archives_a_client_that_left(app_client: TestClient) -> None:
    """Issue 15 (clients that leave) from the web: Archive… on the Companies page, as the CLI and the API do."""
    csrf = form_login(app_client, "admin@a.test")
    page = app_client.get("/companies", params={"q": "a-002"}).text
    assert 'aria-label="Archive Northwind Traders"' in page and "data-confirm=" in page
    r = app_client.post("/companies/archive", data={"csrf_token": csrf, "company_id": "a-002"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/companies"
    assert "Northwind Traders archived: 2026-10 is still pushed" in app_client.get("/companies").text
    assert app_client.get("/api/v1/companies/a-002").json()["archived"] is True
    assert 'aria-label="Archive Northwind Traders"' not in app_client.get("/companies", params={"q": "a-002"}).text


def test_companies_since_is_the_first_event_in_the_data(app_client: TestClient) -> None:
    """Issue 17.8: "Since" is the company's first status change (months of history), not the import's date; a
    company without users yet is there since its import."""
    csrf = form_login(app_client, "admin@a.test")

    def since(company_id: str) -> str:
        row = re.search(rf"<code>{company_id}</code>.*?<td>([^<]*)</td></tr>", app_client.get("/companies").text, re.S)
        assert row, company_id
        return row.group(1)

    assert since("a-001") == "2026-09-01"  # the seed's users became active then
    earlier = b"user_id,company_id,email,name,status,at\nold-1,a-001,old@a.test,Old,active,2026-03-05T10:00:00Z\n"
    files = {"file": ("users.csv", earlier, "text/csv")}
    app_client.post("/companies/upload", data={"csrf_token": csrf, "kind": "users"}, files=files)
    assert since("a-001") == "2026-03-05" and since("a-002") == "2026-09-01"  # seen at once after an import
    files = {"file": ("companies.csv", b"company_id,name\nz-9,Zed Newcomer\n", "text/csv")}
    app_client.post("/companies/upload", data={"csrf_token": csrf, "kind": "companies"}, files=files)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", since("z-9"))  # no users yet: the day it was imported
