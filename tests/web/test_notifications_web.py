"""Notifications on the Integrations page and in the API: add, list, remove; the webhook's secret never shown."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.web.test_pages import form_login

SECRET_HOOK = "https://hooks.slack.com/services/T0AAA/B0BBB/verysecrettoken"


def test_integrations_page_adds_and_removes_channels(app_client: TestClient) -> None:
    csrf = form_login(app_client, "admin@a.test")
    page = app_client.get("/integrations").text
    assert "No channel yet" in page
    r = app_client.post(
        "/integrations/notifications/add", data={"csrf_token": csrf, "kind": "email", "address": "ops@alpha.example"}
    )
    assert r.status_code == 200 and "Notifications now go to email ops@alpha.example" in r.text
    r = app_client.post(
        "/integrations/notifications/add",
        data={"csrf_token": csrf, "kind": "webhook", "address": SECRET_HOOK, "format": "slack"},
    )
    assert "webhook (slack) https://hooks.slack.com/…oken" in r.text
    assert "verysecrettoken" not in r.text
    bad = app_client.post(
        "/integrations/notifications/add",
        data={"csrf_token": csrf, "kind": "webhook", "address": "ftp://x", "format": "json"},
    )
    assert bad.status_code == 422 and "must be http:// or https://" in bad.text
    channels = app_client.get("/api/v1/notifications/channels").json()
    assert [(c["kind"], c["format"], c["address"]) for c in channels] == [
        ("email", "", "ops@alpha.example"),
        ("webhook", "slack", "https://hooks.slack.com/…oken"),
    ]
    r = app_client.post(f"/integrations/notifications/{channels[0]['id']}/remove", data={"csrf_token": csrf})
    assert "Removed email ops@alpha.example" in r.text
    assert len(app_client.get("/api/v1/notifications/channels").json()) == 1


def test_api_channels_admin_only_and_per_tenant(app_client: TestClient) -> None:
    from tests.web.conftest import login

    login(app_client, "admin@a.test")
    r = app_client.post(
        "/api/v1/notifications/channels", json={"kind": "webhook", "url": SECRET_HOOK, "format": "teams"}
    )
    assert r.status_code == 201, r.text
    assert "verysecrettoken" not in r.text
    hook_id = r.json()["id"]
    r = app_client.post("/api/v1/notifications/channels", json={"kind": "email", "to": "not-an-address"})
    assert r.status_code == 422 and "is not an e-mail address" in r.text
    assert app_client.get("/api/v1/notifications/deliveries").json() == []
    app_client.post("/api/v1/auth/logout")
    app_client.cookies.clear()

    login(app_client, "admin@b.test")
    assert app_client.get("/api/v1/notifications/channels").json() == []
    assert app_client.delete(f"/api/v1/notifications/channels/{hook_id}").status_code == 404
    app_client.post("/api/v1/auth/logout")
    app_client.cookies.clear()

    login(app_client, "viewer@a.test")
    assert len(app_client.get("/api/v1/notifications/channels").json()) == 1
    assert app_client.delete(f"/api/v1/notifications/channels/{hook_id}").status_code == 403
