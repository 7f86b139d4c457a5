"""HaloPSAClient against the HaloPSA sandbox over real sockets."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace

import httpx
import pytest

from seatsync.connectors.halopsa import RETRY, HaloPSAClient, NewLicence, Permission, rolling_window_limiter
from seatsync.errors import AuthenticationFailed, PermissionDenied, RateLimited, RequestRejected
from seatsync.sandboxes.halopsa import HaloPSASandbox, create_app
from seatsync.sandboxes.halopsa.seed import DEMO_COMPANIES, NO_SUBSCRIPTION, TWO_SUBSCRIPTIONS
from seatsync.sandboxes.server import BackgroundServer, free_port
from tests.halopsa.conftest import ClientFactory, FakeClock


def test_demo_seed_clients_like_connectwise_with_subscriptions(make_client: ClientFactory) -> None:
    client = make_client()
    customers = client.list_customers()
    active_names = {name for _, name, deleted in DEMO_COMPANIES if not deleted}
    assert {c.name for c in customers} == active_names
    assert len(client.list_customers(include_inactive=True)) == len(DEMO_COMPANIES)
    licences = client.list_licences()
    per_client: dict[int, int] = {}
    for licence in licences:
        assert licence.client_id is not None
        per_client[licence.client_id] = per_client.get(licence.client_id, 0) + 1
    by_ref = {c.ref: c.id for c in client.list_customers()}
    assert all(per_client.get(by_ref[ref], 0) == 0 for ref in NO_SUBSCRIPTION)
    assert per_client[by_ref[TWO_SUBSCRIPTIONS]] == 2
    assert sum(1 for n in per_client.values() if n == 1) == len(active_names) - len(NO_SUBSCRIPTION) - 1
    assert {i.name for i in client.list_items()} >= {"Security Awareness Training (per user)"}


def test_paging_over_real_sockets(make_client: ClientFactory, sandbox: HaloPSASandbox) -> None:
    sandbox.reset("empty")
    sandbox.add_clients(250)
    client = make_client()
    assert len(client.list_customers()) == 250
    assert sandbox.request_counts["GET /api/Client"] == 3
    assert len(client.list_customers(search="Client 0012")) == 10  # 00120-00129


def test_tenant_parameter_and_a_wrong_secret(make_client: ClientFactory) -> None:
    assert make_client(halo_tenant="demo").list_items()
    with pytest.raises(RequestRejected, match="unknown tenant"):
        make_client(halo_tenant="other").list_items()
    with pytest.raises(AuthenticationFailed, match="client id and secret"):
        make_client(client_secret="nope").list_items()


def test_an_expired_token_is_replaced_once(
    make_client: ClientFactory, sandbox: HaloPSASandbox, clock: FakeClock
) -> None:
    client = make_client()
    client.list_items()
    sandbox.expire_tokens()  # voided early: the client's copy still looks valid
    client.list_items()
    assert sandbox.tokens_issued == 2
    assert sandbox.status_counts[401] == 1
    clock.now += 3600  # expired by age: fetched before use, no 401
    client.list_items()
    assert sandbox.tokens_issued == 3 and sandbox.status_counts[401] == 1


def test_read_only_application_reads_and_is_refused_the_edit(
    make_client: ClientFactory, sandbox: HaloPSASandbox
) -> None:
    client = make_client("readonly-client", "readonly-secret")
    licence = client.list_licences()[0]
    assert Permission.EDIT_LICENCES.value not in client.granted_scopes  # asked for all, got its own scopes
    with pytest.raises(PermissionDenied, match="edit:softwarelicensing") as caught:
        client.set_licence_count(licence, licence.count + 1)
    assert caught.value.right == "edit:softwarelicensing"
    assert sandbox.changes == []


def test_the_agents_rights_apply_as_well_as_the_scope(make_client: ClientFactory, sandbox: HaloPSASandbox) -> None:
    sandbox.add_application(
        "agent-read-only",
        "s",
        scopes="all",
        agent={"customers": "read", "items": "read", "softwarelicensing": "read"},
    )
    client = make_client("agent-read-only", "s")
    licence = client.list_licences()[0]
    with pytest.raises(PermissionDenied, match="does not have modify access to softwarelicensing"):
        client.set_licence_count(licence, 99)
    sandbox.add_application("no-items", "s", scopes="all", agent={"customers": "read", "softwarelicensing": "modify"})
    with pytest.raises(PermissionDenied, match="read items"):
        make_client("no-items", "s").list_items()


def test_upsert_sets_absolute_counts_and_only_changes_what_differs(
    make_client: ClientFactory, sandbox: HaloPSASandbox
) -> None:
    client = make_client()
    first, second = client.list_licences()[:2]
    saved = client.upsert_licences(
        [
            {"id": first.id, "client_id": first.client_id, "name": first.name, "count": 42},
            {"id": second.id, "client_id": second.client_id, "name": second.name, "count": second.count},
        ]
    )
    assert [s.count for s in saved] == [42, second.count]
    assert [(c.licence_id, c.old, c.new) for c in sandbox.changes] == [(first.id, first.count, 42)]
    client.set_licence_count(client.get_licence(first.id), 42)  # the same again: no change
    assert len(sandbox.changes) == 1
    created = client.create_licence(NewLicence(client_id=first.client_id or 0, name="New seats", item_id=12, count=3))
    assert created.id > 0 and client.get_licence(created.id).name == "New seats"


def test_halos_error_bodies_arrive_as_errors_with_its_words(make_client: ClientFactory) -> None:
    client = make_client()
    licence = client.list_licences()[0]
    with pytest.raises(RequestRejected, match="does not exist"):
        client.upsert_licences([{"id": 999_999, "count": 1}])
    with pytest.raises(RequestRejected, match="count must be a number"):
        client.upsert_licences([{"id": licence.id, "count": -1}])
    with pytest.raises(RequestRejected, match="Name is required"):
        client.upsert_licences([{"client_id": licence.client_id, "count": 1}])


def test_no_put_or_patch(server: BackgroundServer, make_client: ClientFactory) -> None:
    client = make_client()
    token = client.token().access_token
    for method in ("PUT", "PATCH"):
        answer = httpx.request(
            method, f"{server.url}/api/SoftwareLicence", headers={"Authorization": f"Bearer {token}"}, json=[]
        )
        assert answer.status_code == 405
        assert "does not support http method" in answer.json()["Message"]


def test_429_past_the_rolling_window_then_back_off(
    make_client: ClientFactory, sandbox: HaloPSASandbox, server: BackgroundServer, clock: FakeClock
) -> None:
    sandbox.configure(rate_limit=5, rate_window_seconds=60)
    client = make_client()
    for _ in range(5):
        client.list_items()
    refused = httpx.get(f"{server.url}/api/Item")  # the window is counted before the token is looked at
    assert refused.status_code == 429
    assert refused.json() == "Rate Limit Reached - 5 Requests per rolling 1 minute window"
    assert "retry-after" not in refused.headers
    start = clock.now
    client.list_items()  # refused after 5, 10, 20 and 40 s of back-off; the window has room after 60 s
    assert client.rate_limited == 4
    assert 75 <= clock.now - start <= 75 + 4 * RETRY.rate_limit_jitter  # the shared, jittered back-off
    sandbox.configure(rate_limit=0)
    with pytest.raises(RateLimited, match="Rate Limit Reached"):
        make_client(retry=replace(RETRY, max_rate_limit_waits=1)).list_items()


def test_pacing_under_the_window_never_trips_it(
    make_client: ClientFactory, sandbox: HaloPSASandbox, clock: FakeClock
) -> None:
    sandbox.configure(rate_limit=20, rate_window_seconds=60)
    client = make_client(limiter=rolling_window_limiter(20, 60, clock=clock, sleep=clock.sleep))
    for _ in range(100):
        client.list_items()
    assert sandbox.rate_limited == 0
    assert sandbox.peak_in_window() <= 20
    assert sandbox.peak_in_window() >= 0.9 * 20


def test_faults_are_survived_and_absolute_counts_end_right(make_client: ClientFactory, sandbox: HaloPSASandbox) -> None:
    sandbox.configure(fault_rate=0.3)
    client = make_client(retry=replace(RETRY, max_retries=10))
    licences = client.list_licences()
    for n, licence in enumerate(licences):
        client.set_licence_count(licence, 100 + n)
    sandbox.configure(fault_rate=0)
    assert [client.get_licence(lic.id).count for lic in licences] == [100 + n for n in range(len(licences))]
    assert sandbox.fault_counts["drop"] > 0 and sandbox.fault_counts["error"] > 0
    # a repeated update changes nothing the second time: one change record per licence
    assert all(len(sandbox.changes_of(lic.id)) == 1 for lic in licences)


def test_state_has_no_secrets(server: BackgroundServer, make_client: ClientFactory) -> None:
    make_client().list_items()
    text = httpx.get(f"{server.url}/_sandbox/state").text
    assert "demo-secret" not in text and "readonly-secret" not in text
    state = httpx.get(f"{server.url}/_sandbox/state").json()
    assert {a["client_id"] for a in state["applications"]} == {"demo-client", "readonly-client"}
    assert state["licences"] and state["clients"]


def test_the_sandbox_command_serves(subprocess_env: dict[str, str]) -> None:
    port = free_port()
    command = [sys.executable, "-m", "seatsync", "sandbox", "halopsa", "--port", str(port), "--rate-limit", "120"]
    process = subprocess.Popen(command, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180  # an upper bound: ends as soon as it answers (loaded machines start slowly)
        while True:
            try:
                httpx.get(f"{url}/_sandbox/state", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[0]
                assert time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.1)
        with HaloPSAClient(url=url, client_id="demo-client", client_secret="demo-secret") as client:
            assert len(client.list_customers()) > 30
        settings = httpx.get(f"{url}/_sandbox/state").json()["settings"]
        assert settings["rate_limit"] == 600 and settings["rate_window_seconds"] == 300
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0].decode()
    assert f"HaloPSA sandbox at http://127.0.0.1:{port}" in output


def test_sandbox_app_without_server_state(sandbox: HaloPSASandbox) -> None:
    app = create_app(sandbox)
    assert app.sandbox is sandbox
    assert HaloPSASandbox(seed="empty", rate_limit=None).licences == {}
