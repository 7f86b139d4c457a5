"""The HaloPSA JSON API: connect (naming missing permissions), clients, subscriptions, items, mappings, "Create
subscription", suggestions; admins change, viewers read; the secret is never answered."""

# ruff: noqa: F811 (the web app's fixtures, imported)

from __future__ import annotations

from fastapi.testclient import TestClient

from seatsync.sandboxes.halopsa import HaloPSASandbox
from seatsync.sandboxes.server import BackgroundServer
from tests.web.conftest import admin, app_client, login, world  # noqa: F401


def _connect(admin: TestClient, url: str, client_id: str = "demo-client", secret: str = "demo-secret") -> dict:  # type: ignore[type-arg]
    r = admin.post(
        "/api/v1/halopsa/connect",
        json={"url": url, "client_id": client_id, "client_secret": secret, "halo_tenant": "demo"},
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_connect_map_create_and_suggest(admin: TestClient, server: BackgroundServer, sandbox: HaloPSASandbox) -> None:
    assert admin.get("/api/v1/halopsa").json()["status"] == "disconnected"
    body = _connect(admin, server.url)
    assert body["status"] == "connected" and body["missing_permissions"] == []
    assert [p["scope"] for p in body["permissions"]] == [
        "read:customers",
        "read:items",
        "read:softwarelicensing",
        "edit:softwarelicensing",
    ]
    assert "demo-secret" not in admin.get("/api/v1/halopsa").text
    clients = admin.get("/api/v1/halopsa/clients", params={"q": "northwind"}).json()
    assert [c["name"] for c in clients] == ["Northwind Traders", "Northwind Traders Inc."]
    northwind = clients[0]["id"]
    subs = admin.get(f"/api/v1/halopsa/clients/{northwind}/subscriptions").json()
    assert len(subs) == 2
    r = admin.put("/api/v1/halopsa/mappings/a-002", json={"client_id": northwind, "licence_id": subs[0]["id"]})
    assert r.status_code == 200, r.text
    assert r.json()["licence_name"] == subs[0]["name"] and r.json()["saved_by"] == "admin@a.test"
    globex = admin.get("/api/v1/halopsa/clients", params={"q": "globex"}).json()[0]["id"]
    wrong = admin.put("/api/v1/halopsa/mappings/a-002", json={"client_id": globex, "licence_id": subs[0]["id"]})
    assert wrong.status_code == 409 and "belongs to HaloPSA client" in wrong.text
    items = admin.get("/api/v1/halopsa/items").json()
    smith = admin.get("/api/v1/halopsa/clients", params={"q": "smith"}).json()[0]["id"]
    made = admin.post(
        "/api/v1/halopsa/subscriptions",
        json={
            "company_id": "a-005",
            "client_id": smith,
            "name": "Zebra SAT",
            "item_id": items[0]["id"],
            "start_date": "2026-10-01",
        },
    )
    assert made.status_code == 201, made.text
    created = next(r for r in sandbox.licences.values() if r["name"] == "Zebra SAT")
    assert made.json()["licence_id"] == str(created["id"]) and created["client_id"] == smith
    assert admin.get("/api/v1/halopsa/mappings/a-005").json()[0]["licence_name"] == "Zebra SAT"
    found = {s["company_id"]: s for s in admin.get("/api/v1/halopsa/suggestions").json()}
    assert found["a-004"]["client_name"] == "Globex Logistics" and found["a-004"]["licence_id"] is not None
    assert admin.delete("/api/v1/halopsa/mappings/a-005").json() == {"removed": 1}


def test_a_failed_connect_keeps_working_credentials_and_viewers_cannot_change(
    app_client: TestClient, server: BackgroundServer
) -> None:
    login(app_client, "admin@a.test")
    assert _connect(app_client, server.url)["status"] == "connected"
    refused = _connect(app_client, server.url, "readonly-client", "readonly-secret")
    assert refused["stored"] is False and refused["missing_permissions"] == ["edit:softwarelicensing"]
    assert "working ones are kept" in refused["reason"]
    state = app_client.get("/api/v1/halopsa").json()
    assert state["status"] == "connected" and state["client_id"] == "demo-client"
    app_client.post("/api/v1/auth/logout")
    login(app_client, "viewer@a.test")
    assert app_client.post("/api/v1/halopsa/disconnect").status_code == 403
    assert app_client.put("/api/v1/halopsa/mappings/a-001", json={"client_id": 1}).status_code == 403
    assert app_client.get("/api/v1/halopsa").json()["status"] == "connected"


def test_the_integrations_page_connects_checks_and_disconnects(admin: TestClient, server: BackgroundServer) -> None:
    page = admin.get("/integrations")
    assert page.status_code == 200 and 'id="halo-title"' in page.text
    csrf = admin.headers["X-CSRF-Token"]
    form = {"csrf_token": csrf, "url": server.url, "client_id": "readonly-client", "client_secret": "readonly-secret"}
    broken = admin.post("/integrations/halopsa/connect", data=form)
    assert broken.status_code == 200
    assert "Saved, but the connection is broken" in broken.text and 'id="halo-permissions"' in broken.text
    assert "lacks the scope edit:softwarelicensing" in broken.text
    connected = admin.post(
        "/integrations/halopsa/connect", data={**form, "client_id": "demo-client", "client_secret": "demo-secret"}
    )
    assert "Connected to HaloPSA: every permission is granted." in connected.text
    assert "demo-secret" not in connected.text
    kept = admin.post("/integrations/halopsa/connect", data={**form, "client_secret": "wrong"})
    assert "Nothing changed: the check failed" in kept.text
    checked = admin.post("/integrations/halopsa/check", data={"csrf_token": csrf})
    assert "every permission is granted" in checked.text
    assert "Forget the API application's client secret?" in checked.text  # disconnect asks first
    gone = admin.post("/integrations/halopsa/disconnect", data={"csrf_token": csrf})
    assert "HaloPSA disconnected" in gone.text
