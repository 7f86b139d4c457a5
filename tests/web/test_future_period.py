"""A period that has not started is refused by the API (422) and nothing is sent: the sandbox is unchanged."""

from __future__ import annotations

from fastapi.testclient import TestClient

from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from seatsync.sandboxes.server import BackgroundServer


def test_the_api_refuses_a_future_period_and_sends_nothing(
    admin: TestClient, connected: BackgroundServer, cw_sandbox: ConnectWiseSandbox
) -> None:
    additions = {k: dict(v) for k, v in cw_sandbox.additions.items()}
    documents = len(cw_sandbox.documents)
    refused = admin.post("/api/v1/pushes", json={"target": "connectwise", "period": "2031-05"})
    assert refused.status_code == 422, refused.text
    assert "2031-05" in refused.json()["detail"]
    assert admin.post("/api/v1/pushes", json={"target": "connectwise", "period": "2026-11"}).status_code == 422
    assert cw_sandbox.additions == additions
    assert len(cw_sandbox.documents) == documents
    assert cw_sandbox.changes == []
    assert admin.get("/api/v1/pushes").json() == [] or all(
        r["period"] != "2031-05" for r in admin.get("/api/v1/pushes").json()
    )
