"""The Autotask client and sandbox together over real sockets."""

from __future__ import annotations

import json
import threading
from datetime import date

import httpx
import pytest

from seatsync.connectors.autotask import HourlyBudget, Permission, all_of, any_of, eq, where
from seatsync.errors import AuthenticationFailed, PermissionDenied, PostedPeriod, RequestRejected
from seatsync.sandboxes.autotask import DEMO_INTEGRATION_CODE, SECURITY_AWARENESS_SERVICE, AutotaskSandbox
from seatsync.sandboxes.server import BackgroundServer
from tests.autotask.conftest import FakeClock, make_client

HEADERS = {"ApiIntegrationCode": DEMO_INTEGRATION_CODE, "UserName": "demo-api@example.com", "Secret": "demo-secret"}


def test_zone_points_at_the_sandbox_and_unknown_users_get_500(server: BackgroundServer, client) -> None:  # type: ignore[no-untyped-def]
    zone = client.zone_information()
    assert zone.url == f"{server.url}/ATServicesRest/"
    answer = httpx.get(f"{server.url}/atservicesrest/v1.0/zoneInformation", params={"user": "who@x"})
    assert answer.status_code == 500 and answer.json()["errors"]
    assert httpx.get(f"{server.url}/ATServicesRest/V1.0/zoneInformation", params={"user": ""}).status_code == 500


def test_demo_seed_companies_contracts_and_services(client, sandbox: AutotaskSandbox) -> None:  # type: ignore[no-untyped-def]
    companies = client.companies([eq("isActive", True)])
    names = {c.company_name for c in companies}
    assert {"Acme Corporation", "Smith & Sons Plumbing", "Sterling & Co. Financial"} <= names
    acme = next(c for c in companies if c.company_name == "Acme Corporation")
    (contract,) = client.company_contracts(acme.id)
    assert contract.recurring_service and contract.active
    services = client.contract_services(contract.id)
    assert len(services) == 2  # the one with two
    umbrella = next(c for c in companies if c.company_name == "Umbrella Health Partners")
    assert client.company_contracts(umbrella.id, recurring_service_only=False) == []
    globex = next(c for c in companies if c.company_name == "Globex Logistics")
    assert len(client.company_contracts(globex.id, recurring_service_only=False)) == 2
    assert len(client.company_contracts(globex.id)) == 1  # the T&M contract is not recurring-service


def test_case_insensitive_fields_and_paths_and_and_or_filters(server: BackgroundServer, client) -> None:  # type: ignore[no-untyped-def]
    body = {
        "filter": [
            {"op": "eq", "field": "ISACTIVE", "value": True},
            {
                "op": "or",
                "items": [
                    {"op": "beginsWith", "field": "companyname", "value": "acme"},
                    {
                        "op": "and",
                        "items": [
                            {"op": "contains", "field": "companyName", "value": "dental"},
                            {"op": "notExist", "field": "parentCompanyID"},
                        ],
                    },
                ],
            },
        ],
        "IncludeFields": ["companyName"],
    }
    answer = httpx.post(f"{server.url}/atservicesrest/v1.0/companies/query", json=body, headers=HEADERS)
    assert answer.status_code == 200, answer.text
    names = sorted(item["companyName"] for item in answer.json()["items"])
    assert names == ["Acme Corporation", "Stark Dental Group", "Willow Creek Dental"]
    assert set(answer.json()["items"][0]) == {"companyName"}
    filters = [any_of(eq("companyName", "Initech"), all_of(where("companyName", "endsWith", "Bakery")))]
    assert client.query_count("Companies", filters) == 2
    bad = httpx.post(
        f"{server.url}/ATServicesRest/V1.0/Companies/query",
        json={"filter": [{"op": "eq", "field": "isActive", "value": None}]},
        headers=HEADERS,
    )
    assert bad.status_code == 400 and "null" in bad.json()["errors"][0]
    with pytest.raises(RequestRejected, match="Unable to find nosuch"):
        client.companies([eq("nosuch", 1)])


def test_500_row_pages_with_a_keyset_cursor(server: BackgroundServer, client, sandbox: AutotaskSandbox) -> None:  # type: ignore[no-untyped-def]
    sandbox.add_companies(1_100, prefix="Bulk")
    pages = list(client.query_pages("Companies", [where("companyName", "beginsWith", "Bulk")]))
    assert [len(p.items) for p in pages] == [500, 500, 100]
    ids = [item["id"] for page in pages for item in page.items]
    assert ids == sorted(ids) and len(set(ids)) == 1_100
    assert pages[0].next_page_url is not None and "/query/next?paging=" in pages[0].next_page_url
    # a GET on the next page of a POSTed query is refused
    assert httpx.get(pages[0].next_page_url, headers=HEADERS).status_code == 405
    search = json.dumps({"filter": [{"op": "beginsWith", "field": "companyName", "value": "Bulk"}]})
    first = httpx.get(f"{server.url}/ATServicesRest/V1.0/Companies/query", params={"search": search}, headers=HEADERS)
    following = httpx.get(first.json()["pageDetails"]["nextPageUrl"], headers=HEADERS)
    assert following.status_code == 200 and len(following.json()["items"]) == 500
    too_wide = httpx.post(
        f"{server.url}/ATServicesRest/V1.0/Companies/query",
        json={"filter": [{"op": "gte", "field": "id", "value": 0}], "IncludeFields": ["companyName"]},
        headers=HEADERS,
    )
    assert too_wide.status_code == 400 and "IncludeFields must contain id" in too_wide.text


def _acme(client):  # type: ignore[no-untyped-def]
    company = client.companies([eq("companyName", "Acme Corporation")])[0]
    contract = client.company_contracts(company.id)[0]
    service = next(s for s in client.contract_services(contract.id) if s.service_id == SECURITY_AWARENESS_SERVICE)
    return contract, service


def test_adjustments_are_deltas_that_split_unit_rows_at_their_date(client, sandbox: AutotaskSandbox) -> None:  # type: ignore[no-untyped-def]
    contract, service = _acme(client)
    before = client.units_on(contract_service_id=service.id, day=date(2026, 5, 1))
    assert before is not None and (before.start_date, before.end_date) == (date(2026, 5, 1), date(2026, 5, 31))
    client.adjust_units(
        contract_id=contract.id,
        contract_service_id=service.id,
        service_id=service.service_id,
        effective_date=date(2026, 5, 15),
        unit_change=3,
        expect_units=before.units + 3,
    )
    first_half = client.units_on(contract_service_id=service.id, day=date(2026, 5, 14))
    second_half = client.units_on(contract_service_id=service.id, day=date(2026, 5, 15))
    assert first_half is not None and second_half is not None
    assert (first_half.start_date, first_half.end_date, first_half.units) == (
        date(2026, 5, 1),
        date(2026, 5, 14),
        before.units,
    )
    assert (second_half.start_date, second_half.end_date, second_half.units) == (
        date(2026, 5, 15),
        date(2026, 5, 31),
        before.units + 3,
    )
    later = client.units_on(contract_service_id=service.id, day=date(2026, 9, 1))
    assert later is not None and later.units == before.units + 3  # later periods follow
    # create-only: no query, no update
    with pytest.raises(RequestRejected, match="cannot be queried or updated"):
        list(client.query("ContractServiceAdjustments", [eq("contractID", contract.id)]))


def test_an_adjustment_naming_a_new_service_creates_the_contract_service(client, sandbox: AutotaskSandbox) -> None:  # type: ignore[no-untyped-def]
    company = client.companies([eq("companyName", "Initech")])[0]
    contract = client.company_contracts(company.id)[0]
    item_id = client.create(
        "/ContractServiceAdjustments",
        {"contractID": contract.id, "serviceID": 33, "effectiveDate": "2026-06-01", "unitChange": 4},
        record="an adjustment",
    )
    assert item_id > 0
    created = next(s for s in client.contract_services(contract.id) if s.service_id == 33)
    row = client.units_on(contract_service_id=created.id, day=date(2026, 6, 1))
    assert row is not None and row.units == 4


def test_posted_periods_and_outside_dates_are_refused(client, sandbox: AutotaskSandbox) -> None:  # type: ignore[no-untyped-def]
    contract, service = _acme(client)
    sandbox.approve_and_post(contract.id, date(2026, 4, 30))
    row = client.units_on(contract_service_id=service.id, day=date(2026, 4, 1))
    assert row is not None and row.posted
    with pytest.raises(PostedPeriod, match="approved and posted"):
        client.adjust_units(
            contract_id=contract.id,
            contract_service_id=service.id,
            service_id=service.service_id,
            effective_date=date(2026, 4, 1),
            unit_change=1,
            expect_units=row.units + 1,
        )
    with pytest.raises(RequestRejected, match="outside contract"):
        client.adjust_units(
            contract_id=contract.id,
            contract_service_id=service.id,
            service_id=service.service_id,
            effective_date=date(2030, 1, 1),
            unit_change=1,
            expect_units=1,
        )
    assert not sandbox.adjustments


def test_notes_and_attachments_with_data_only_on_the_get_by_id(client, sandbox: AutotaskSandbox) -> None:  # type: ignore[no-untyped-def]
    contract, _ = _acme(client)
    note_id = client.create_contract_note(contract.id, title="Seats 2026-05", description="billable users")
    attachment_id = client.attach_to_note(
        note_id, title="seats-2026-05.csv", filename="seats.csv", content=b"id,name\n1,a\n"
    )
    (listed,) = client.note_attachments(note_id)
    assert listed.id == attachment_id and listed.file_size == 12
    assert client.attachment_data(note_id, attachment_id) == b"id,name\n1,a\n"
    assert [n.id for n in client.contract_notes(contract.id, title="Seats 2026-05")] == [note_id]


def test_the_read_only_user_lacks_contract_edit_and_notes(server: BackgroundServer, clock: FakeClock, client) -> None:  # type: ignore[no-untyped-def]
    contract, service = _acme(client)
    with make_client(server, clock, username="readonly-api@example.com", secret="readonly-secret") as readonly:
        assert readonly.companies([eq("companyName", "Initech")])
        with pytest.raises(PermissionDenied) as adjust:
            readonly.adjust_units(
                contract_id=contract.id,
                contract_service_id=service.id,
                service_id=service.service_id,
                effective_date=date(2026, 6, 1),
                unit_change=1,
                expect_units=0,
            )
        assert adjust.value.right == str(Permission.CONTRACT_SERVICES_ADJUST) and adjust.value.status_code == 500
        with pytest.raises(PermissionDenied) as note:
            readonly.create_contract_note(contract.id, title="t", description="d")
        assert note.value.right == str(Permission.CONTRACT_NOTES_ADD) and note.value.status_code == 403


def test_credentials_and_integration_code_are_checked(server: BackgroundServer, clock: FakeClock) -> None:
    with make_client(server, clock, secret="wrong") as wrong, pytest.raises(AuthenticationFailed):
        wrong.companies()
    missing = httpx.post(
        f"{server.url}/ATServicesRest/V1.0/Companies/query",
        json={"filter": [{"op": "gte", "field": "id", "value": 0}]},
        headers={"UserName": "demo-api@example.com", "Secret": "demo-secret"},
    )
    assert missing.status_code == 401 and "ApiIntegrationCode" in missing.json()["errors"][0]
    with make_client(server, clock, integration_code="ANY-OTHER-CODE") as other:
        assert other.companies([eq("companyName", "Initech")])


def test_the_shared_hourly_threshold_429_and_the_budget_keeps_under_its_share(
    server: BackgroundServer, clock: FakeClock, sandbox: AutotaskSandbox
) -> None:
    sandbox.threshold.limit = 100
    sandbox.spend_by_others(40)
    budget = HourlyBudget(0.5, check_every=10, slow_seconds=0, wait_seconds=600, max_wait=3600, sleep=clock.sleep)
    company_id = next(iter(sandbox.tables["Companies"]))
    with make_client(server, clock, budget=budget) as client:
        for _ in range(20):
            client.company(company_id)
    # the budget stopped at half the threshold (the others' 40 and ours), waited for the hour to roll on,
    # and went on once the others' requests had left the window
    assert 45 <= sandbox.threshold.peak <= 50
    assert sum(s for s in clock.slept if s == 600) >= 3600 - 600
    assert sandbox.request_counts[f"GET /ATServicesRest/V1.0/Companies/{company_id}"] == 20
    sandbox.spend_by_others(100)
    answer = httpx.get(f"{server.url}/ATServicesRest/V1.0/ThresholdInformation", headers=HEADERS)
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) >= 1
    assert "threshold" in answer.json()["errors"][0]


def test_thread_limit_refuses_a_fourth_concurrent_request(server: BackgroundServer, sandbox: AutotaskSandbox) -> None:
    statuses: list[int] = []
    lock = threading.Lock()

    def call() -> None:
        answer = httpx.get(f"{server.url}/ATServicesRest/V1.0/Companies/29683000", headers=HEADERS, timeout=30)
        with lock:
            statuses.append(answer.status_code)

    sandbox.hold_answers.set()
    threads = [threading.Thread(target=call) for _ in range(5)]
    for thread in threads:
        thread.start()
    while True:  # three held in flight, two refused
        with lock:
            if len(statuses) == 2:
                break
        threading.Event().wait(0.01)
    assert statuses == [429, 429] and sum(sandbox.inflight.values()) == 3
    sandbox.hold_answers.clear()
    for thread in threads:
        thread.join()
    assert statuses.count(200) == 3
    # another endpoint is not limited by the first one's threads
    assert httpx.get(f"{server.url}/ATServicesRest/V1.0/Contracts/29684000", headers=HEADERS).status_code == 200


def test_state_lists_everything(server: BackgroundServer) -> None:
    state = httpx.get(f"{server.url}/_sandbox/state").json()
    assert len(state["companies"]) == 34
    assert {u["username"] for u in state["users"]} == {"demo-api@example.com", "readonly-api@example.com"}
    assert state["threshold"]["externalRequestThreshold"] == 10_000
    assert all(c["contractType"] in (1, 7) for c in state["contracts"])
