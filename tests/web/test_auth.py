from __future__ import annotations

from fastapi.testclient import TestClient

from tests.web.conftest import PASSWORD, World, login


def test_login_sets_http_only_lax_cookie_and_me(app_client: TestClient) -> None:
    response = app_client.post("/api/v1/auth/login", json={"email": "admin@a.test", "password": PASSWORD})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    me = app_client.get("/api/v1/auth/me").json()
    assert me["email"] == "admin@a.test" and me["role"] == "admin" and me["tenant"] == "alpha-msp"


def test_secure_cookie_behind_https_proxy(app_client: TestClient) -> None:
    response = app_client.post(
        "/api/v1/auth/login",
        json={"email": "admin@a.test", "password": PASSWORD},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert "Secure" in response.headers["set-cookie"]


def test_wrong_password_then_throttled_then_window_passes(app_client: TestClient, world: World) -> None:
    for _ in range(5):
        r = app_client.post("/api/v1/auth/login", json={"email": "admin@a.test", "password": "nope-nope"})
        assert r.status_code == 401
        assert r.json()["detail"] == "the email or password is not right"
    r = app_client.post("/api/v1/auth/login", json={"email": "admin@a.test", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    world.clock.advance(minutes=16)
    assert (
        app_client.post("/api/v1/auth/login", json={"email": "admin@a.test", "password": PASSWORD}).status_code == 200
    )


def test_unknown_email_is_the_same_answer(app_client: TestClient) -> None:
    r = app_client.post("/api/v1/auth/login", json={"email": "ghost@a.test", "password": PASSWORD})
    assert r.status_code == 401 and r.json()["detail"] == "the email or password is not right"


def test_csrf_required_for_cookie_writes(app_client: TestClient) -> None:
    login(app_client, "admin@a.test")
    del app_client.headers["X-CSRF-Token"]
    r = app_client.put("/api/v1/companies/x-1", json={"name": "X"})
    assert r.status_code == 403 and "security token" in r.json()["detail"]
    r = app_client.put("/api/v1/companies/x-1", json={"name": "X"}, headers={"X-CSRF-Token": "wrong"})
    assert r.status_code == 403


def test_logout_ends_the_session(app_client: TestClient) -> None:
    login(app_client, "admin@a.test")
    assert app_client.post("/api/v1/auth/logout").status_code == 204
    assert app_client.get("/api/v1/auth/me").status_code == 401


def test_session_expires(app_client: TestClient, world: World) -> None:
    login(app_client, "admin@a.test")
    world.clock.advance(hours=13)
    assert app_client.get("/api/v1/auth/me").status_code == 401


def test_api_token_lifecycle(admin: TestClient) -> None:
    created = admin.post("/api/v1/tokens", json={"name": "vendor sync", "role": "admin"})
    assert created.status_code == 201
    token = created.json()["token"]
    assert token.startswith("ss_")
    listed = admin.get("/api/v1/tokens").json()
    assert [t["name"] for t in listed] == ["vendor sync"] and "token" not in listed[0]
    with TestClient(admin.app) as script:
        r = script.get("/api/v1/companies", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["total"] == 5
        # a bearer token needs no CSRF token
        r = script.put("/api/v1/companies/a-900", json={"name": "New"}, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert admin.delete(f"/api/v1/tokens/{created.json()['id']}").json()["revoked_at"] is not None
        r = script.get("/api/v1/companies", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401


def test_viewer_token_cannot_write(admin: TestClient) -> None:
    token = admin.post("/api/v1/tokens", json={"name": "read", "role": "viewer"}).json()["token"]
    with TestClient(admin.app) as script:
        r = script.put("/api/v1/companies/a-1", json={"name": "X"}, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403


def test_viewer_cannot_manage_tokens(viewer: TestClient) -> None:
    assert viewer.get("/api/v1/tokens").status_code == 403
    assert viewer.post("/api/v1/tokens", json={"name": "x"}).status_code == 403
