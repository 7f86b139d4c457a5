"""ConnectWiseClient over httpx.MockTransport: headers, codebase lookup, paging, and the error policy."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import httpx
import pytest

from seatsync.connectors.connectwise import ConnectWiseClient, Right, site_origin
from seatsync.connectors.connectwise.pagination import format_link_header
from seatsync.connectors.http import RetryPolicy
from seatsync.connectors.limits import Unlimited
from seatsync.errors import (
    AuthenticationFailed,
    ConfigurationError,
    PermissionDenied,
    RateLimited,
    RecordNotFound,
    RequestRejected,
    ServerError,
    TransportError,
)

PRIVATE = "s3cr3t-PRIVATE-key"
PUBLIC = "pub-KEY-123"
COMPANY_INFO = {
    "CompanyName": "Acme",
    "Codebase": "v2025_1/",
    "VersionCode": "v2025.1",
    "CompanyID": "acme",
    "IsCloud": "True",
}
ADDITION = {
    "id": 5,
    "agreementId": 7,
    "product": {"id": 1, "identifier": "PHISH-SAT"},
    "quantity": 3.0,
    "billCustomer": "Billable",
}

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    def __init__(self, api: Handler) -> None:
        self.api = api
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.startswith("/login/companyinfo/"):
            return httpx.Response(200, json=COMPANY_INFO)
        return self.api(request)

    @property
    def api_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if "/apis/3.0/" in r.url.path]


def make(api: Handler, **options: object) -> tuple[ConnectWiseClient, Recorder, list[float]]:
    recorder = Recorder(api)
    sleeps: list[float] = []
    client = ConnectWiseClient(
        site="api-na.myconnectwise.net",
        company_id="acme",
        public_key=PUBLIC,
        private_key=PRIVATE,
        client_id="11111111-2222-3333-4444-555555555555",
        transport=httpx.MockTransport(recorder),
        rate_limiter=Unlimited(),
        sleep=sleeps.append,
        **options,  # type: ignore[arg-type]
    )
    return client, recorder, sleeps


def error(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": message, "errors": None}, headers=headers)


def test_site_forms() -> None:
    assert site_origin("api-na.myconnectwise.net") == "https://api-na.myconnectwise.net"
    assert site_origin("http://127.0.0.1:8101/") == "http://127.0.0.1:8101"
    assert site_origin(" https://cw.example.com ") == "https://cw.example.com"
    with pytest.raises(ConfigurationError):
        site_origin("ftp://x")


def test_headers_codebase_and_url_exactly_as_the_reference() -> None:
    client, recorder, _ = make(lambda r: httpx.Response(200, json={"version": "v2025.1", "isCloud": True}))
    with client:
        assert client.system_info().version == "v2025.1"
    lookup, call = recorder.requests
    assert str(lookup.url) == "https://api-na.myconnectwise.net/login/companyinfo/acme"
    assert "authorization" not in lookup.headers  # the lookup needs no keys, so none are sent
    assert str(call.url) == "https://api-na.myconnectwise.net/v2025_1/apis/3.0/system/info"
    expected = base64.b64encode(f"acme+{PUBLIC}:{PRIVATE}".encode()).decode()
    assert call.headers["authorization"] == f"Basic {expected}"
    assert call.headers["clientid"] == "11111111-2222-3333-4444-555555555555"
    assert call.headers["accept"] == "application/vnd.connectwise.com+json; version=2025.8"


def test_unknown_company_id_is_an_authentication_failure() -> None:
    client = ConnectWiseClient(
        site="api-na.myconnectwise.net",
        company_id="nobody",
        public_key="p",
        private_key="k",
        client_id="c",
        transport=httpx.MockTransport(lambda r: httpx.Response(200, content=b"null")),
        rate_limiter=Unlimited(),
    )
    with client, pytest.raises(AuthenticationFailed, match="does not know the company id 'nobody'"):
        client.system_info()


def test_lists_follow_the_link_header_with_page_size_1000() -> None:
    def api(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        assert request.url.params["pageSize"] == "1000"
        assert request.url.params["conditions"] == 'name like "Acme*"'
        items = [{"id": page * 10 + i, "identifier": f"c{i}", "name": "n"} for i in range(2)]
        links = (
            {
                "next": f"https://elsewhere/v2025_1/apis/3.0/company/companies?page={page + 1}&pageSize=1000&conditions=name%20like%20%22Acme*%22"
            }
            if page < 3
            else {}
        )
        return httpx.Response(200, json=items, headers={"Link": format_link_header(links)} if links else {})

    client, recorder, _ = make(api)
    with client:
        companies = client.list_companies(conditions='name like "Acme*"')
    assert [c.id for c in companies] == [10, 11, 20, 21, 30, 31]
    assert len(recorder.api_requests) == 3
    assert {r.url.host for r in recorder.api_requests} == {"api-na.myconnectwise.net"}  # our origin, not the link's


def test_set_quantity_sends_one_json_patch_replace() -> None:
    client, recorder, _ = make(lambda r: httpx.Response(200, json={**ADDITION, "quantity": 42.0}))
    with client:
        addition = client.set_addition_quantity(7, 5, 42)
    (patch,) = recorder.api_requests
    assert patch.method == "PATCH"
    assert patch.url.path == "/v2025_1/apis/3.0/finance/agreements/7/additions/5"
    assert json.loads(patch.content) == [{"op": "replace", "path": "quantity", "value": 42}]
    assert addition.quantity == 42.0


def test_401_is_authentication_failed_and_not_retried() -> None:
    client, recorder, _ = make(lambda r: error(401, "UserNotAuthenticated", "nope"))
    with client, pytest.raises(AuthenticationFailed) as caught:
        client.list_companies()
    assert len(recorder.api_requests) == 1
    assert caught.value.status_code == 401


def test_403_names_the_right() -> None:
    client, _, _ = make(lambda r: error(403, "Unauthorized", "You do not have access."))
    with client, pytest.raises(PermissionDenied) as caught:
        client.set_addition_quantity(7, 5, 1)
    assert caught.value.right == Right.AGREEMENTS_EDIT
    assert "Finance › Agreements › Edit" in str(caught.value)


def test_404_names_the_record() -> None:
    client, _, _ = make(lambda r: error(404, "NotFound", "Addition recID 5 not found."))
    with client, pytest.raises(RecordNotFound, match="addition 5 of agreement 7"):
        client.get_addition(7, 5)


def test_429_waits_retry_after_then_retries() -> None:
    answers = iter([error(429, "x", "slow down", **{"Retry-After": "7"}), httpx.Response(200, json=ADDITION)])
    client, recorder, sleeps = make(lambda r: next(answers))
    with client:
        assert client.get_addition(7, 5).id == 5
    assert len(recorder.api_requests) == 2
    assert sum(sleeps) == pytest.approx(7, abs=0.1)


def test_429_beyond_the_waiting_budget_is_raised() -> None:
    client, _, _ = make(
        lambda r: httpx.Response(
            429, json={"error": "ConnectWiseAPI", "message": "Too many"}, headers={"Retry-After": "900"}
        )
    )
    with client, pytest.raises(RateLimited) as caught:
        client.get_addition(7, 5)
    assert caught.value.retry_after == 900


def test_5xx_is_retried_with_bounded_exponential_backoff() -> None:
    client, recorder, sleeps = make(
        lambda r: error(503, "Busy", "try later"), retry=RetryPolicy(max_retries=4, backoff_base=1.0, backoff_cap=3.0)
    )
    with client, pytest.raises(ServerError, match="HTTP 503"):
        client.get_agreement(7)
    assert len(recorder.api_requests) == 5
    assert len(sleeps) == 4
    assert all(0 <= s <= cap for s, cap in zip(sleeps, [1, 2, 3, 3], strict=True))


def test_5xx_then_success() -> None:
    answers = iter([error(500, "x", "boom"), error(502, "x", "bad gateway"), httpx.Response(200, json=ADDITION)])
    client, recorder, _ = make(lambda r: next(answers))
    with client:
        assert client.get_addition(7, 5).quantity == 3.0
    assert len(recorder.api_requests) == 3


@pytest.mark.parametrize(
    "exc", [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.RemoteProtocolError("dropped")]
)
def test_timeouts_and_dropped_connections_are_retried_then_transport_error(exc: httpx.HTTPError) -> None:
    def api(request: httpx.Request) -> httpx.Response:
        raise exc

    client, recorder, _ = make(api, retry=RetryPolicy(max_retries=2))
    with client, pytest.raises(TransportError) as caught:
        client.list_catalog()
    assert len(recorder.api_requests) == 3
    assert not isinstance(caught.value, httpx.HTTPError)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


def test_other_4xx_is_fatal_with_connectwise_message() -> None:
    body = {
        "code": "InvalidObject",
        "message": "addition object is invalid",
        "errors": [
            {
                "code": "InvalidField",
                "message": "quantity must be a number",
                "resource": "addition",
                "field": "quantity",
            }
        ],
    }
    client, recorder, _ = make(lambda r: httpx.Response(400, json=body))
    with client, pytest.raises(RequestRejected) as caught:
        client.set_addition_quantity(7, 5, 1)
    assert "addition object is invalid; quantity must be a number (quantity)" in str(caught.value)
    assert len(recorder.api_requests) == 1


def test_upload_is_multipart_and_not_repeated_when_the_first_one_landed() -> None:
    stored: list[dict[str, object]] = []

    def api(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
            body = request.read()
            assert b'name="recordType"' in body
            assert b"Agreement" in body
            assert b'filename="r.csv"' in body
            stored.append({"id": 9, "title": "Report", "fileName": "r.csv", "size": 4})
            raise httpx.RemoteProtocolError("connection dropped after the server stored the file")
        return httpx.Response(200, json=stored)

    client, recorder, _ = make(api)
    with client:
        document = client.upload_document("Agreement", 7, "Report", "r.csv", b"a,b\n")
    assert document.id == 9
    assert [r.method for r in recorder.api_requests] == ["POST", "GET"]
    assert len(stored) == 1


def test_secrets_never_appear_in_repr_or_errors() -> None:
    client, _, _ = make(lambda r: error(401, "UserNotAuthenticated", "bad"))
    with client:
        assert PRIVATE not in repr(client)
        assert PUBLIC not in repr(client)
        assert PRIVATE not in str(vars(client))
        with pytest.raises(AuthenticationFailed) as caught:
            client.list_companies()
    token = base64.b64encode(f"acme+{PUBLIC}:{PRIVATE}".encode()).decode()
    for text in (str(caught.value), repr(caught.value), repr(vars(caught.value))):
        assert PRIVATE not in text
        assert token not in text
