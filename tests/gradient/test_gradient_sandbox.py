"""The Gradient sandbox over real sockets: the reference's answers, the MSP side, and the simulated conditions."""

from __future__ import annotations

import base64
import contextlib
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from seatsync.connectors.gradient import AccountsAlreadyExist, GradientClient, NewAccount, NotMappedInGradient
from seatsync.connectors.http import RetryPolicy
from seatsync.connectors.limits import Unlimited
from seatsync.errors import AuthenticationFailed, RequestRejected
from seatsync.sandboxes.gradient import GradientSandbox, create_app
from seatsync.sandboxes.server import BackgroundServer, free_port

API = "/api/vendor-api"


def token(vendor: str = "demo-vendor", partner: str = "demo-partner") -> dict[str, str]:
    return {"GRADIENT-TOKEN": base64.b64encode(f"{vendor}:{partner}".encode()).decode(), "Accept": "application/json"}


@pytest.fixture
def http(gradient: Any) -> Any:
    with httpx.Client(base_url=gradient.url, headers=token()) as client:
        yield client


def test_token_check(gradient: Any) -> None:
    with httpx.Client(base_url=gradient.url) as raw:
        assert raw.get(f"{API}/organization").status_code == 401
        assert raw.get(f"{API}/organization", headers=token(partner="wrong")).status_code == 401
        assert raw.get(f"{API}/organization", headers={"GRADIENT-TOKEN": "%%%"}).status_code == 401
        answer = raw.get(f"{API}/organization", headers=token())
    assert answer.status_code == 200
    body = answer.json()
    assert body["name"] == "Demo MSP"
    assert body["status"] == "inactive"
    assert set(body) == {
        "organizationId",
        "name",
        "vendorId",
        "vendorName",
        "integrationId",
        "status",
        "lastSyncedAt",
    }
    with gradient.client(token="nope") as client, pytest.raises(AuthenticationFailed):
        client.get_organization()


def test_partners_and_keys_added_programmatically(gradient: Any) -> None:
    gradient.sandbox.add_partner("other-vendor", "msp-2", name="Second MSP")
    with gradient.client(vendor="other-vendor", token="msp-2") as client:
        assert client.get_organization().name == "Second MSP"
        assert client.get_vendor().skus == []
    gradient.sandbox.revoke("msp-2")
    with gradient.client(vendor="other-vendor", token="msp-2") as client, pytest.raises(AuthenticationFailed):
        client.get_organization()


def test_status_lifecycle_is_case_sensitive_and_a_count_makes_it_active(gradient: Any, http: httpx.Client) -> None:
    bad = http.patch(f"{API}/organization/status/Pending")
    assert bad.status_code == 400
    ok = http.patch(f"{API}/organization/status/pending")
    assert ok.json()["message"] == "Success - Updated Integration Status"
    assert ok.json()["data"]["status"] == "pending"
    with gradient.client() as client:
        service = client.create_service(
            name="Security Awareness Training",
            description="",
            category="security",
            subcategory="privacy and security awareness training",
        )
        client.create_accounts([NewAccount(id="c1", name="Initech")])  # a PSA company name: auto-mapped
        assert client.get_organization().status == "pending"
        client.set_unit_count(service.id, "c1", 4, no_build=False)
        assert client.get_organization().status == "active"
        assert client.get_organization().last_synced_at is not None


def test_services_carry_both_ids_and_categories_are_checked(http: httpx.Client) -> None:
    created = http.post(
        f"{API}/service",
        json={
            "name": "Phishing Simulation",
            "description": "d",
            "category": "security",
            "subcategory": "phishing simulation",
        },
    )
    assert created.status_code == 201
    sku = created.json()["data"]["skus"][0]
    assert sku["_id"] == sku["id"]
    assert sku["name"] == "Phishing Simulation"
    one = http.get(f"{API}/service/{sku['id']}").json()
    assert one["data"]["_id"] == sku["id"]
    assert one["status"] == 200
    assert http.get(f"{API}/service/nope").status_code == 404
    vendor = http.get(API).json()
    assert vendor["data"]["skus"][0]["id"] == sku["id"]
    wrong = http.post(f"{API}/service", json={"name": "X", "category": "Security", "subcategory": "y"})
    assert wrong.status_code == 400
    assert "category must be one of" in wrong.json()["message"]


def test_accounts_bulk_create_409_on_existing_ids_and_rename(gradient: Any, http: httpx.Client) -> None:
    first = http.post(f"{API}/organization/accounts", json=[{"id": "c1", "name": "One"}, {"id": 2, "name": "Two"}])
    assert first.status_code == 201
    assert first.json()[1]["id"] == "2"
    again = http.post(f"{API}/organization/accounts", json=[{"id": "c3", "name": "Three"}, {"id": "c1", "name": "One"}])
    assert again.status_code == 409
    assert again.json() == {"statusCode": 409, "message": "Account already exists with id: c1"}
    assert [a["id"] for a in http.get(f"{API}/organization/accounts").json()] == ["c1", "2"]  # all or nothing
    assert http.post(f"{API}/organization/accounts", json=[{"id": "c4"}]).status_code == 400
    assert http.post(f"{API}/organization/accounts", json=[{"id": ["x"], "name": "X"}]).status_code == 400
    assert http.post(f"{API}/organization/accounts", json={"id": "c5", "name": "X"}).status_code == 400
    renamed = http.patch(f"{API}/organization/accounts/c1", json={"name": "Uno"})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Uno"
    assert http.patch(f"{API}/organization/accounts/zz", json={"name": "Z"}).status_code == 404
    with gradient.client() as client, pytest.raises(AccountsAlreadyExist):
        client.create_accounts([NewAccount(id="2", name="Two")])


def test_counts_need_a_mapped_pair_and_are_kept_with_instant_and_no_build(gradient: Any, http: httpx.Client) -> None:
    with gradient.client() as client:
        sat = client.create_service(
            name="Security Awareness Training", description="", category="security", subcategory="x"
        )
        custom = client.create_service(name="Custom", description="", category="other", subcategory="y")
        client.create_accounts([NewAccount(id="c1", name="Initech"), NewAccount(id="c2", name="Not In PSA")])
        state = gradient.sandbox.state()
        assert state["mappings"] == {"accounts": {"c1": "Initech"}, "services": {sat.id: sat.name}}
        client.set_unit_count(sat.id, "c1", 3, no_build=True)
        with pytest.raises(NotMappedInGradient):
            client.set_unit_count(sat.id, "c2", 3, no_build=True)  # account not mapped
        with pytest.raises(NotMappedInGradient):
            client.set_unit_count(custom.id, "c1", 3, no_build=True)  # service not mapped
        with pytest.raises(NotMappedInGradient):
            client.set_unit_count(sat.id, "ghost", 3, no_build=True)  # unknown account
        client.set_unit_count(sat.id, "c1", 5, no_build=False)
    raw = http.post(f"{API}/service/{sat.id}/count", json={"accountId": "c2", "unitCount": 1})
    assert raw.json() == {"statusCode": 404, "message": "No account map found with id: c2"}
    null = http.post(f"{API}/service/{sat.id}/count", json={"accountId": "c1", "unitCount": None})
    assert null.status_code == 400
    assert null.json()["message"] == "unitCount must be a number"
    counts = gradient.sandbox.state()["counts"]
    assert [(c["accountId"], c["unitCount"], c["noBuild"]) for c in counts] == [("c1", 3, True), ("c1", 5, False)]
    assert counts[0]["at"] <= counts[1]["at"]
    assert gradient.sandbox.latest_counts() == {("c1", sat.id): 5}


def test_msp_side_maps_all_or_chosen_ids_over_http(gradient: Any, http: httpx.Client) -> None:
    with gradient.client() as client:
        svc = client.create_service(name="Custom", description="", category="other", subcategory="y")
        client.create_accounts([NewAccount(id=f"c{i}", name=f"Company {i}") for i in range(3)])
    with httpx.Client(base_url=gradient.url) as msp:
        assert msp.post("/_sandbox/map", json={"accounts": ["c0"], "services": []}).status_code == 200
        state = msp.get("/_sandbox/state").json()
        assert list(state["mappings"]["accounts"]) == ["c0"]
        assert state["mappings"]["services"] == {}
        assert msp.post("/_sandbox/map", json={"accounts": ["nope"]}).status_code == 404
        state = msp.post("/_sandbox/map", json={"accounts": "all", "services": "all"}).json()
        assert sorted(state["mappings"]["accounts"]) == ["c0", "c1", "c2"]
        assert list(state["mappings"]["services"]) == [svc.id]
        assert {a["id"]: a["isMapped"] for a in state["accounts"]} == {"c0": True, "c1": True, "c2": True}
        msp.post("/_sandbox/unmap", json={"accounts": ["c1"]})
        state = msp.post("/_sandbox/disconnect").json()
    assert state["accounts"] == []
    assert state["status"] == "inactive"


def test_rate_limit_answers_429_with_retry_after() -> None:
    # a stopped clock: the bucket never refills, however slow this machine is
    app = create_app(GradientSandbox.seeded("demo"), rate_limit=5, clock=lambda: 1000.0)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url, headers=token()) as http:
        codes = [http.get(f"{API}/organization").status_code for _ in range(8)]
        limited = http.get(f"{API}/organization")
        assert http.get("/_sandbox/state").status_code == 200  # the MSP side is not limited
    assert codes[:5] == [200] * 5
    assert 429 in codes[5:]
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["statusCode"] == 429
    assert app.rate_limited >= 2


def test_client_honours_429_from_the_sandbox() -> None:
    app = create_app(GradientSandbox.seeded("demo"), rate_limit=2)
    sleeps: list[float] = []
    with (
        BackgroundServer(app) as server,
        GradientClient(
            vendor_key="demo-vendor",
            partner_token="demo-partner",
            base_url=server.url,
            limiter=Unlimited(),
            sleep=lambda s: (sleeps.append(s), time.sleep(0.5)),  # type: ignore[func-returns-value]
        ) as client,
    ):
        for _ in range(4):
            client.get_organization()
        assert client.rate_limited_count >= 1
    assert sleeps
    assert all(s >= 1 for s in sleeps)


def test_latency_is_applied() -> None:
    app = create_app(GradientSandbox.seeded("demo"), latency_ms=120, rate_limit=None)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url, headers=token()) as http:
        started = time.perf_counter()
        http.get(f"{API}/organization")
        assert time.perf_counter() - started >= 0.12


def test_faults_give_500s_and_dropped_connections_and_the_client_recovers() -> None:
    app = create_app(GradientSandbox.seeded("demo"), fault_rate=0.5, rate_limit=None, seed=7)
    outcomes: set[str] = set()
    with BackgroundServer(app) as server:
        for _ in range(30):
            with httpx.Client(base_url=server.url, headers=token()) as http:
                try:
                    outcomes.add(str(http.get(f"{API}/organization").status_code))
                except httpx.RemoteProtocolError:
                    outcomes.add("dropped")
        with GradientClient(
            vendor_key="demo-vendor",
            partner_token="demo-partner",
            base_url=server.url,
            limiter=Unlimited(),
            sleep=lambda s: None,
            retry=RetryPolicy(max_retries=19),
        ) as client:
            # a dropped answer after the accounts were created: the retry meets 409, which the caller resolves
            for i in range(10):
                with contextlib.suppress(AccountsAlreadyExist):
                    client.create_accounts([NewAccount(id=f"c{i}", name=f"C{i}")])
            assert len(client.list_accounts()) == 10
    assert outcomes == {"200", "500", "dropped"}


def test_bad_json_body_is_a_400(http: httpx.Client) -> None:
    answer = http.post(f"{API}/organization/accounts", content=b"{nope", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400


def test_unknown_seed_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown seed"):
        GradientSandbox.seeded("nope")
    assert GradientSandbox.seeded("empty").organizations == {}


def test_request_rejected_carries_the_sandbox_message(gradient: Any) -> None:
    with gradient.client() as client, pytest.raises(RequestRejected, match="category must be one of"):
        client.create_service(name="X", description="", category="Security", subcategory="y")


def test_the_sandbox_command_serves_the_demo_seed(subprocess_env: dict[str, str]) -> None:
    port = free_port()
    command = [sys.executable, "-m", "seatsync", "sandbox", "gradient", "--port", str(port), "--rate-limit", "3000"]
    with subprocess.Popen(command, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        try:
            deadline = time.monotonic() + 180  # an upper bound: ends once it answers
            while True:
                try:
                    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=token()) as http:
                        answer = http.get(f"{API}/organization")
                    break
                except httpx.ConnectError:
                    assert process.poll() is None, process.stderr.read() if process.stderr else ""
                    assert time.monotonic() < deadline, "the sandbox did not start"
                    time.sleep(0.1)
        finally:
            process.terminate()
            out, _ = process.communicate(timeout=10)
    assert answer.json()["name"] == "Demo MSP"
    assert b"partner token demo-partner" in out and b"3000 requests a minute" in out  # per minute, as every sandbox
