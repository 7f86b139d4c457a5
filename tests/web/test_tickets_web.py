"""Choosing the ConnectWise service board on Integrations and through the API; the tickets listed."""

from __future__ import annotations

from fastapi.testclient import TestClient

from seatsync.sandboxes.server import BackgroundServer
from tests.web.conftest import World, login
from tests.web.test_pages import form_login


def test_choose_a_board_on_the_integrations_page(
    app_client: TestClient, world: World, connected: BackgroundServer
) -> None:
    csrf = form_login(app_client, "admin@a.test")
    page = app_client.get("/integrations").text
    assert "none: no tickets" in page and "Choose a board" in page
    listed = app_client.post("/integrations/tickets/connectwise/boards", data={"csrf_token": csrf})
    assert listed.status_code == 200
    assert '<option value="2" >Billing</option>' in listed.text
    assert "Old Projects" not in listed.text  # inactive
    saved = app_client.post("/integrations/tickets/connectwise/board", data={"csrf_token": csrf, "board_id": "2"})
    assert "Tickets now go to the service board Billing." in saved.text
    assert '<dd id="cw-board">Billing</dd>' in saved.text
    refused = app_client.post("/integrations/tickets/connectwise/board", data={"csrf_token": csrf, "board_id": "3"})
    assert refused.status_code == 422 and "no active service board 3" in refused.text
    off = app_client.post("/integrations/tickets/connectwise/board", data={"csrf_token": csrf, "board_id": ""})
    assert "No more service-desk tickets." in off.text


def test_board_through_the_api(app_client: TestClient, connected: BackgroundServer) -> None:
    login(app_client, "admin@a.test")
    boards = app_client.get("/api/v1/tickets/connectwise/boards").json()
    assert boards == [{"id": "1", "name": "Help Desk"}, {"id": "2", "name": "Billing"}]
    r = app_client.put("/api/v1/tickets/connectwise/board", json={"board_id": "1"})
    assert r.status_code == 200 and r.json() == {"target": "connectwise", "board_id": "1", "board_name": "Help Desk"}
    assert app_client.get("/api/v1/tickets/connectwise/board").json()["board_name"] == "Help Desk"
    assert app_client.get("/api/v1/tickets").json() == []
    r = app_client.get("/api/v1/tickets/autotask/boards")
    assert r.status_code == 409, r.text
    assert "not available for Autotask yet" in r.text
    app_client.post("/api/v1/auth/logout")
    app_client.cookies.clear()
    login(app_client, "viewer@a.test")
    assert app_client.put("/api/v1/tickets/connectwise/board", json={"board_id": None}).status_code == 403
