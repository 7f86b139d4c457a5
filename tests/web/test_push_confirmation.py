"""A push by hand with an approval threshold: the preview marks the rows over it (before → proposed, Δ seats and
%), and a push sends them only when asked to (``approve_over_threshold``); otherwise they wait on Approvals."""

from __future__ import annotations

from fastapi.testclient import TestClient

from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from seatsync.sandboxes.server import BackgroundServer
from tests.web.conftest import World, login
from tests.web.test_automation_acceptance import map_companies


def wait(client: TestClient) -> None:
    assert client.app.state.seatsync.dispatcher.wait(30)  # type: ignore[attr-defined]


def test_the_api_marks_the_rows_over_the_threshold_and_holds_them_unless_confirmed(
    app_client: TestClient, world: World, connected: BackgroundServer, cw_sandbox: ConnectWiseSandbox
) -> None:
    additions = map_companies(world, cw_sandbox)  # a-001 2 → 2, a-002 1 → 3 (+200 %), a-003 blocked
    login(app_client, "admin@a.test")
    r = app_client.put(
        "/api/v1/schedules/connectwise",
        json={"day": "1", "at": "00:00", "period": "previous", "approve_above_percent": 50},
    )
    assert r.status_code == 200, r.text

    plan = app_client.post("/api/v1/pushes/preview", json={"target": "connectwise", "period": "2026-10"}).json()
    assert (plan["approval_threshold"], plan["over_threshold"]) == ("more than 50%", 1)
    rows = {r["company_id"]: r for r in plan["rows"]}
    assert {k: r["over_threshold"] for k, r in rows.items() if k in additions} == {
        "a-001": False,
        "a-002": True,
        "a-003": False,
    }
    assert (rows["a-002"]["before"], rows["a-002"]["after"]) == (1, 3)
    assert (rows["a-002"]["change_seats"], rows["a-002"]["change_percent"]) == (2, 200)

    held = app_client.post("/api/v1/pushes", json={"target": "connectwise", "period": "2026-10"})
    assert held.status_code == 202, held.text
    assert held.json()["approval"] == (
        "rows changing by more than 50% are held for approval (outcome awaiting, listed on Approvals); "
        "push with approve_over_threshold to send them"
    )
    wait(app_client)
    run = app_client.get(f"/api/v1/pushes/{held.json()['run_id']}?results=true").json()
    outcome = {r["company_id"]: (r["outcome"], r["before"], r["after"]) for r in run["results"]}
    assert outcome["a-002"] == ("awaiting", 1, 3)
    assert float(cw_sandbox.additions[additions["a-002"]]["quantity"]) == 1  # not sent
    [waiting] = app_client.get("/api/v1/approvals").json()
    assert waiting["run_id"] == run["id"] and [r["company_id"] for r in waiting["rows"]] == ["a-002"]

    sent = app_client.post(
        "/api/v1/pushes", json={"target": "connectwise", "period": "2026-10", "approve_over_threshold": True}
    )
    assert sent.status_code == 202, sent.text
    assert sent.json()["approval"] == "rows changing by more than 50% are sent (confirmed)"
    wait(app_client)
    run = app_client.get(f"/api/v1/pushes/{sent.json()['run_id']}?results=true").json()
    assert {r["company_id"]: r["outcome"] for r in run["results"]}["a-002"] == "succeeded"
    assert float(cw_sandbox.additions[additions["a-002"]]["quantity"]) == 3
    assert app_client.get("/api/v1/approvals").json() == []  # superseded by the push that sent it
    assert "rows over the approval threshold confirmed" in app_client.get(f"/history/{run['id']}").text
    assert "rows over the approval threshold confirmed" not in app_client.get(f"/history/{held.json()['run_id']}").text


def test_without_a_threshold_nothing_is_marked_nor_held(
    app_client: TestClient, world: World, connected: BackgroundServer, cw_sandbox: ConnectWiseSandbox
) -> None:
    additions = map_companies(world, cw_sandbox)
    login(app_client, "admin@a.test")
    plan = app_client.post("/api/v1/pushes/preview", json={"target": "connectwise", "period": "2026-10"}).json()
    assert (plan["approval_threshold"], plan["over_threshold"]) == (None, 0)
    started = app_client.post("/api/v1/pushes", json={"target": "connectwise", "period": "2026-10"}).json()
    assert started["approval"] is None
    wait(app_client)
    assert float(cw_sandbox.additions[additions["a-002"]]["quantity"]) == 3
