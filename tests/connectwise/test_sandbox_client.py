"""The client against the sandbox over a real socket (acceptance 1), and the sandbox's ConnectWise behaviour."""

from __future__ import annotations

import httpx
import pytest

from conftest import ClientFactory
from seatsync.connectors.connectwise import where
from seatsync.errors import AuthenticationFailed, PermissionDenied, RequestRejected
from seatsync.sandboxes.connectwise import DEMO_COMPANIES, ConnectWiseSandbox
from seatsync.sandboxes.server import BackgroundServer


def test_acceptance_list_2500_companies_in_3_requests_then_additions_quantity_and_document(
    sandbox: ConnectWiseSandbox, make_client: ClientFactory
) -> None:
    sandbox.reset(seed=None)
    sandbox.add_companies(2500)
    client = make_client()
    assert client.base_url.endswith("/v2025_1/apis/3.0")  # the codebase lookup, done once
    before = client.requests_sent
    companies = client.list_companies()
    assert client.requests_sent - before == 3
    assert len(companies) == 2500 == len({c.id for c in companies})

    agreement = sandbox.add_agreement(companies[0].id)
    addition = sandbox.add_addition(agreement["id"], quantity=10)
    additions = client.list_additions(agreement["id"])
    assert [(a.id, a.quantity, a.product.identifier if a.product else None) for a in additions] == [
        (addition["id"], 10.0, "PHISH-SAT")
    ]
    updated = client.set_addition_quantity(agreement["id"], addition["id"], 57)
    assert updated.quantity == 57.0
    assert sandbox.additions[addition["id"]]["quantity"] == 57.0
    assert [(c.old, c.new) for c in sandbox.changes_of(addition["id"])] == [(10.0, 57.0)]

    report = b"user,email\n1,a@example.com\n"
    document = client.upload_document(
        "Agreement", agreement["id"], "Billable users 2026-01", "billable-2026-01.csv", report
    )
    listed = client.list_documents("Agreement", agreement["id"])
    assert [(d.id, d.title, d.file_name, d.size) for d in listed] == [
        (document.id, "Billable users 2026-01", "billable-2026-01.csv", len(report))
    ]
    assert sandbox.documents[document.id].content == report
    assert document.public_flag is False  # private by default


def test_demo_seed_has_what_real_instances_have(make_client: ClientFactory) -> None:
    client = make_client()
    companies = client.list_companies()
    assert len(companies) == len(DEMO_COMPANIES)
    names = [c.name for c in companies]
    assert sum(c.deleted for c in companies) == 1
    deleted = next(c for c in companies if c.deleted)
    assert names.count(deleted.name) == 2  # the recycle bin looks like a duplicate
    assert "Northwind Traders" in names
    assert "Northwind Traders Inc." in names
    assert any("&" in n for n in names)
    agreements = client.list_agreements()
    assert {a.agreement_status for a in agreements} >= {"Active", "Cancelled", "Expired"}
    acme = next(c for c in companies if c.name == "Acme Corporation")
    (acme_agreement,) = client.list_agreements(company_id=acme.id, conditions=where("cancelledFlag", "=", False))
    additions = client.list_additions(acme_agreement.id)
    assert sum(a.cancelled for a in additions) == 1
    (product,) = client.list_catalog(where("identifier", "=", "PHISH-SAT"))
    assert "awareness" in product.description.lower()


def test_conditions_fields_and_paging_in_the_sandbox(server: BackgroundServer, sandbox: ConnectWiseSandbox) -> None:
    base = f"{server.url}/{sandbox.codebase}apis/3.0"
    with httpx.Client(auth=httpx.BasicAuth("demo+demo-public", "demo-private"), headers={"clientId": "x"}) as http:

        def names(conditions: str) -> list[str]:
            answer = http.get(f"{base}/company/companies", params={"conditions": conditions, "pageSize": 1000})
            assert answer.status_code == 200, answer.text
            return sorted(c["name"] for c in answer.json())

        assert names('name = "smith & sons plumbing"') == ["Smith & Sons Plumbing"]  # case-insensitive
        assert names('name like "Northwind*"') == ["Northwind Traders", "Northwind Traders Inc."]
        assert names('name like "%traders inc%"') == ["Northwind Traders Inc."]
        assert names('name contains "& Co."') == ["Sterling & Co. Financial"]
        assert names('name like "Fabrikam*" AND deletedFlag = False') == ["Fabrikam Inc"]
        assert names('(id = 250 OR id = 251) AND not name = "Acme Corporation"') == ["Northwind Traders"]
        assert names("id in (250, 252)") == ["Acme Corporation", "Northwind Traders Inc."]
        assert names("id not in (250, 252) AND id < 254") == ["Contoso Ltd", "Northwind Traders"]
        assert names('status/name = "Inactive"') == ["Fabrikam Inc"]
        assert names("dateDeleted > [2025-01-01T00:00:00Z]") == ["Fabrikam Inc"]
        assert names('name != "x" AND id >= 282') == ["Quantum Analytics", "Sterling & Co. Financial"]

        trimmed = http.get(f"{base}/company/companies/250", params={"fields": "id,name,status/name"}).json()
        assert trimmed == {"id": 250, "name": "Acme Corporation", "status": {"name": "Active"}}

        first = http.get(f"{base}/company/companies", params={"pageSize": 10})
        assert len(first.json()) == 10
        assert 'rel="next"' in first.headers["Link"]
        assert 'rel="last"' in first.headers["Link"]
        last = http.get(first.links["last"]["url"])
        assert 'rel="next"' not in last.headers["Link"]
        assert 'rel="prev"' in last.headers["Link"]
        capped = http.get(f"{base}/company/companies", params={"pageSize": 5000})
        assert len(capped.json()) == len(DEMO_COMPANIES)  # 34 < 1000, and no error for asking more

        seen: list[int] = []
        url, params = f"{base}/company/companies", {"pageSize": 15}
        for _ in range(10):  # bounded: 34 companies in pages of 15
            page = http.get(url, params=params, headers={"pagination-type": "forward-only"})
            seen += [c["id"] for c in page.json()]
            if 'rel="next"' not in page.headers.get("Link", ""):
                break
            url, params = page.links["next"]["url"], None
            assert "pageId=" in url
        assert seen == sorted(sandbox.companies)

        bad = http.get(f"{base}/company/companies", params={"conditions": "nosuchfield = 1"})
        assert bad.status_code == 400
        assert bad.json()["code"] == "InvalidObject"
        orderless = http.get(
            f"{base}/company/companies", params={"orderBy": "name"}, headers={"pagination-type": "forward-only"}
        )
        assert orderless.status_code == 400


def test_authentication_and_client_id(
    server: BackgroundServer, sandbox: ConnectWiseSandbox, make_client: ClientFactory
) -> None:
    with pytest.raises(AuthenticationFailed):
        make_client(private_key="wrong").list_companies()
    base = f"{server.url}/{sandbox.codebase}apis/3.0"
    no_client_id = httpx.get(f"{base}/system/info", auth=httpx.BasicAuth("demo+demo-public", "demo-private"))
    assert no_client_id.status_code == 400
    assert no_client_id.json()["errors"][0]["field"] == "clientId"
    unknown = httpx.get(f"{server.url}/login/companyinfo/other")
    assert unknown.status_code == 200
    assert unknown.json() is None


def test_readonly_member_is_refused_writes_only(make_client: ClientFactory, sandbox: ConnectWiseSandbox) -> None:
    readonly = make_client("readonly-public", "readonly-private")
    assert readonly.get_addition(100, 1001).quantity is not None
    with pytest.raises(PermissionDenied, match="Agreements › Edit"):
        readonly.set_addition_quantity(100, 1001, 99)
    with pytest.raises(PermissionDenied, match="Manage Attachments › Add"):
        readonly.upload_document("Agreement", 100, "t", "t.csv", b"x")
    assert sandbox.changes == []
    assert sandbox.documents == {}


def test_patch_refuses_unknown_paths_and_ops(make_client: ClientFactory, sandbox: ConnectWiseSandbox) -> None:
    client = make_client()
    for ops in (
        [{"op": "replace", "path": "extPrice", "value": 1}],
        [{"op": "copy", "path": "quantity", "from": "x"}],
        [{"op": "replace", "path": "quantity", "value": "ten"}],
    ):
        with pytest.raises(RequestRejected):
            client.patch_addition(100, 1001, ops)
    assert sandbox.changes == []
    assert client.patch_addition(100, 1001, [{"op": "replace", "path": "/quantity", "value": 8}]).quantity == 8.0


def test_sandbox_helpers(server: BackgroundServer, sandbox: ConnectWiseSandbox) -> None:
    by_hand = httpx.post(f"{server.url}/_sandbox/additions/1001/quantity", json={"quantity": 33})
    assert by_hand.json()["quantity"] == 33.0
    state = httpx.get(f"{server.url}/_sandbox/state").json()
    assert state["changes"][-1] == {**state["changes"][-1], "additionId": 1001, "new": 33.0, "source": "hand"}
    assert {m["public_key"] for m in state["members"]} == {"demo-public", "readonly-public"}
    assert "demo-private" not in str(state)
    configured = httpx.post(f"{server.url}/_sandbox/config", json={"latency_ms": 5, "rate_limit": 100}).json()
    assert configured["latency_ms"] == 5
    assert configured["rate_limit"] == 100
    assert httpx.get(f"{server.url}/_sandbox/requests").json()["total"] == 0
