"""Every request the client sends and every answer the sandbox gives validate against the OpenAPI contract."""

from __future__ import annotations

import httpx
import jsonschema
import pytest
from cw_helpers import ERROR_BODY, SPEC_PATH, ContractTransport, load_spec, openapi

from conftest import ClientFactory
from seatsync.connectors.connectwise import where
from seatsync.errors import PermissionDenied, RecordNotFound
from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services.connectwise_connection import check_rights

#: every API operation ConnectWiseClient (and the connection check) sends
CLIENT_OPERATIONS = {
    "GET /company/companies",
    "GET /company/companies/{id}",
    "GET /finance/agreements",
    "GET /finance/agreements/{id}",
    "GET /finance/agreements/{id}/additions",
    "GET /finance/agreements/{id}/additions/{id}",
    "PATCH /finance/agreements/{id}/additions/{id}",
    "GET /procurement/catalog",
    "POST /system/documents",
    "GET /system/documents",
    "GET /system/info",
}


def test_the_contract_file_is_found_and_is_openapi_3() -> None:
    assert SPEC_PATH.exists(), SPEC_PATH
    assert load_spec()["openapi"].startswith("3.")
    openapi()  # the adapted copy still parses as a valid spec


def test_every_client_request_and_sandbox_answer_match_the_contract(make_client: ClientFactory) -> None:
    contract = ContractTransport()
    client = make_client(transport=contract)
    client.system_info()
    companies = client.list_companies(
        conditions=where("deletedFlag", "=", False), fields=["id", "identifier", "name", "status"]
    )
    client.list_companies(conditions=where("name", "=", "Smith & Sons Plumbing"))
    client.get_company(companies[0].id)
    agreements = client.list_agreements(company_id=companies[0].id, conditions=where("cancelledFlag", "=", False))
    client.get_agreement(agreements[0].id)
    additions = client.list_additions(agreements[0].id)
    client.get_addition(agreements[0].id, additions[0].id)
    client.set_addition_quantity(agreements[0].id, additions[0].id, 17)
    client.list_catalog(where("identifier", "=", "PHISH-SAT"))
    client.upload_document("Agreement", agreements[0].id, "Billing report 2026-01", "report.csv", b"user,company\n")
    client.list_documents("Agreement", agreements[0].id)
    check_rights(client)  # the right probes, including the deliberately refused ones
    contract.close()
    assert contract.failures == []
    assert contract.requests_checked >= CLIENT_OPERATIONS
    assert contract.answers_checked >= CLIENT_OPERATIONS


def test_error_answers_have_connectwise_error_bodies(make_client: ClientFactory) -> None:
    contract = ContractTransport()
    readonly = make_client("readonly-public", "readonly-private", transport=contract)
    with pytest.raises(PermissionDenied):
        readonly.set_addition_quantity(100, 1001, 3)
    with pytest.raises(RecordNotFound):
        readonly.get_addition(100, 999_999)
    contract.close()
    assert contract.failures == []


def test_refused_requests_answer_with_the_documented_error_shape(
    server: BackgroundServer, sandbox: ConnectWiseSandbox
) -> None:
    base = f"{server.url}/{sandbox.codebase}apis/3.0"
    auth = httpx.BasicAuth("demo+demo-public", "demo-private")
    headers = {"clientId": "x"}
    with httpx.Client(auth=auth, headers=headers) as http:
        answers = [
            http.patch(
                f"{base}/finance/agreements/100/additions/1001", json=[{"op": "replace", "path": "nope", "value": 1}]
            ),
            http.patch(f"{base}/finance/agreements/100/additions/1001", json=[{"op": "move", "path": "quantity"}]),
            http.post(f"{base}/system/documents", json={"recordType": "Company", "recordId": 250}),
            http.get(f"{base}/company/companies", params={"conditions": 'name = "unterminated'}),
            http.get(f"{base}/company/companies/424242"),
            http.get(f"{base}/company/companies", headers={"clientId": ""}),
        ]
    assert [a.status_code for a in answers] == [400, 400, 415, 400, 404, 400]
    for answer in answers:
        jsonschema.validate(answer.json(), ERROR_BODY)
    assert answers[0].json()["code"] == "InvalidObject"
    assert answers[0].json()["errors"][0]["field"] == "nope"
