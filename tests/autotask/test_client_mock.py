"""The Autotask client against httpx.MockTransport: zone discovery, headers, paging, every error shape, pacing."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import httpx
import pytest

from seatsync.connectors.autotask import (
    AutotaskClient,
    HourlyBudget,
    Permission,
    QueryPage,
    ThresholdInformation,
    all_of,
    any_of,
    endpoint_of,
    eq,
    where,
)
from seatsync.connectors.http import RetryPolicy
from seatsync.errors import (
    AuthenticationFailed,
    PermissionDenied,
    PostedPeriod,
    RateLimited,
    RecordNotFound,
    RequestRejected,
    ServerError,
    TransportError,
)

ZONE = "https://webservices.autotask.net"
BASE = "https://webservices5.autotask.net/ATServicesRest/V1.0"


def zone_answer(url: str = "https://webservices5.autotask.net/ATServicesRest/") -> httpx.Response:
    return httpx.Response(
        200, json={"zoneName": "America East", "url": url, "webUrl": "https://ww5.autotask.net/", "ci": 7}
    )


class Recorder:
    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.lower().endswith("/zoneinformation"):
            return zone_answer()
        response: httpx.Response = self.handler(request)
        return response


def client_for(handler: Any, **options: Any) -> tuple[AutotaskClient, Recorder]:
    recorder = Recorder(handler)
    options.setdefault("sleep", lambda _s: None)
    client = AutotaskClient(
        username="api@msp.example",
        secret="s3cret",
        integration_code="CODE",
        transport=httpx.MockTransport(recorder),
        **options,
    )
    return client, recorder


def test_zone_discovery_then_header_auth_on_the_zone_base() -> None:
    client, recorder = client_for(lambda r: httpx.Response(200, json={"item": {"id": 5, "companyName": "Acme"}}))
    assert client.company(5).company_name == "Acme"
    zone, call = recorder.requests
    assert str(zone.url) == f"{ZONE}/atservicesrest/v1.0/zoneInformation?user=api%40msp.example"
    assert "Secret" not in zone.headers
    assert str(call.url) == f"{BASE}/Companies/5"
    assert call.headers["ApiIntegrationCode"] == "CODE"
    assert call.headers["UserName"] == "api@msp.example"
    assert call.headers["Secret"] == "s3cret"


def test_unknown_zone_user_is_an_authentication_failure_naming_the_user() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"errors": ["Zone information could not be determined"]})

    client = AutotaskClient(
        username="nobody@x", secret="s", integration_code="C", transport=httpx.MockTransport(handler)
    )
    with pytest.raises(AuthenticationFailed, match="does not know the API user 'nobody@x'"):
        client.zone_information()


def test_a_401_looks_the_zone_up_again_once_and_retries_on_the_new_zone() -> None:
    zones = iter(
        ["https://webservices5.autotask.net/ATServicesRest/", "https://webservices15.autotask.net/ATServicesRest/"]
    )
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.lower().endswith("/zoneinformation"):
            return zone_answer(next(zones))
        seen.append(request.url.host)
        if request.url.host == "webservices5.autotask.net":
            return httpx.Response(401, json={"errors": ["Unauthorized"]})
        return httpx.Response(200, json={"item": {"id": 1, "companyName": "Moved"}})

    client = AutotaskClient(username="u@x", secret="s", integration_code="C", transport=httpx.MockTransport(handler))
    assert client.company(1).company_name == "Moved"
    assert seen == ["webservices5.autotask.net", "webservices15.autotask.net"]


def test_a_401_in_the_same_zone_is_raised_after_one_look_up() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(401, json={"errors": ["Invalid credentials"]})

    client, recorder = client_for(handler)
    with pytest.raises(AuthenticationFailed, match="Invalid credentials"):
        client.company(1)
    zone_lookups = [r for r in recorder.requests if r.url.path.lower().endswith("zoneinformation")]
    assert len(zone_lookups) == 2 and len(calls) == 1


def _page(ids: list[int], next_url: str | None) -> dict[str, Any]:
    return {
        "items": [{"id": i, "companyName": f"C{i}"} for i in ids],
        "pageDetails": {"count": len(ids), "requestCount": 500, "prevPageUrl": None, "nextPageUrl": next_url},
    }


def test_query_follows_next_page_url_verbatim_re_posting_the_body() -> None:
    next_url = f"{BASE}/Companies/query/next?paging=%7B%22pageSize%22%3A500%2C%22nextIds%22%3A%5B500%5D%7D"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/query"):
            return httpx.Response(200, json=_page(list(range(1, 501)), next_url))
        assert str(request.url) == next_url
        return httpx.Response(200, json=_page([501, 502], None))

    client, recorder = client_for(handler)
    companies = client.companies([where("companyName", "beginsWith", "C")])
    assert [c.id for c in companies] == list(range(1, 503))
    first, second = recorder.requests[1:]
    assert first.method == second.method == "POST"
    assert json.loads(first.content) == json.loads(second.content)
    assert json.loads(first.content) == {
        "MaxRecords": 500,
        "filter": [{"op": "beginsWith", "field": "companyName", "value": "C"}],
    }


def test_an_empty_page_ends_the_query_even_with_a_cursor() -> None:
    page = QueryPage.parse({"items": [], "pageDetails": {"nextPageUrl": "https://x/next"}}, what="x")
    assert page.next_page_url is None
    with pytest.raises(RequestRejected, match="without an items list"):
        QueryPage.parse({"item": None}, what="companies")


def test_query_count_and_nested_filters() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body == {
            "filter": [
                {"op": "eq", "field": "contractType", "value": 7},
                {
                    "op": "or",
                    "items": [
                        {"op": "eq", "field": "status", "value": 1},
                        {"op": "and", "items": [{"op": "exist", "field": "endDate"}]},
                    ],
                },
            ]
        }
        return httpx.Response(200, json={"queryCount": 7})

    client, _ = client_for(handler)
    filters = [eq("contractType", 7), any_of(eq("status", 1), all_of(where("endDate", "exist")))]
    assert client.query_count("Contracts", filters) == 7
    with pytest.raises(ValueError, match="null is refused"):
        where("isActive", "eq", None)
    with pytest.raises(ValueError, match="unknown Autotask filter operator"):
        where("x", "like", 1)


@pytest.mark.parametrize(
    ("status", "body", "error", "words"),
    [
        (401, {"errors": ["Unauthorized"]}, AuthenticationFailed, "rejected the API user"),
        (403, {"errors": ["Forbidden"]}, PermissionDenied, "contracts read"),
        (
            500,
            {"errors": ["The logged in Resource does not have the adequate permissions to query this entity type."]},
            PermissionDenied,
            "contracts read",
        ),
        (404, {"errors": ["Not found"]}, RecordNotFound, "no contract 9"),
        (500, {"errors": ["No matching records found. The delete is not allowed."]}, RecordNotFound, "no contract 9"),
        (
            500,
            {
                "errors": [
                    "Unable to make changes as it would result in the deletion/modification of an already approved and posted contract period"
                ]
            },
            PostedPeriod,
            "approved and posted",
        ),
        (
            400,
            {"errors": [{"message": "effectiveDate is required", "field": "effectiveDate"}]},
            RequestRejected,
            r"effectiveDate is required \(effectiveDate\)",
        ),
        (500, {"errors": ["Object reference not set to an instance of an object."]}, ServerError, "HTTP 500"),
        (502, "<html>bad gateway</html>", ServerError, "HTTP 502 Bad Gateway"),  # the page is never echoed
    ],
)
def test_each_error_shape_is_translated(status: int, body: Any, error: type[Exception], words: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    client, _ = client_for(handler, retry=RetryPolicy(max_retries=1))
    with pytest.raises(error, match=words) as caught:
        client.contract(9)
    if isinstance(caught.value, PermissionDenied):
        assert caught.value.right == str(Permission.CONTRACTS_READ)
    assert "<html>" not in str(caught.value)


def test_missing_item_as_null_is_record_not_found() -> None:
    client, _ = client_for(lambda r: httpx.Response(200, json={"item": None}))
    with pytest.raises(RecordNotFound, match="no contract 3"):
        client.contract(3)


def test_429_waits_for_retry_after_or_a_minute() -> None:
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "7"}, json={"errors": ["Too many"]}),
            httpx.Response(429, json={"errors": ["Too many"]}),
            httpx.Response(200, json={"item": {"id": 1, "companyName": "A"}}),
        ]
    )
    slept: list[float] = []
    client, _ = client_for(lambda r: next(answers), sleep=slept.append)
    assert client.company(1).id == 1
    assert slept == [7.0, 60.0]


def test_reads_retry_server_errors_and_transport_failures() -> None:
    answers: list[Any] = [httpx.ReadTimeout("slow"), httpx.Response(503, text="busy")]

    def handler(request: httpx.Request) -> httpx.Response:
        if answers:
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return httpx.Response(200, json={"item": {"id": 1, "companyName": "A"}})

    client, _ = client_for(handler)
    assert client.company(1).id == 1
    client, _ = client_for(lambda r: (_ for _ in ()).throw(httpx.ReadTimeout("slow")), retry=RetryPolicy(max_retries=2))
    with pytest.raises(TransportError, match="could not reach the Autotask zone URL"):  # whatever the cause
        client.company(1)


def test_a_lost_adjustment_answer_is_found_applied_not_posted_twice() -> None:
    posts: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/ContractServiceAdjustments"):
            posts.append(json.loads(request.content))
            return httpx.Response(500, json={"errors": ["Timeout expired"]})  # processed, answer lost
        assert request.url.path.endswith("/ContractServiceUnits/query")
        row = {
            "id": 1,
            "contractID": 2,
            "contractServiceID": 3,
            "serviceID": 4,
            "startDate": "2026-05-01T00:00:00",
            "endDate": "2026-05-31T00:00:00",
            "units": 12,
        }
        return httpx.Response(200, json={"items": [row], "pageDetails": {"nextPageUrl": None}})

    client, _ = client_for(handler)
    result = client.adjust_units(
        contract_id=2,
        contract_service_id=3,
        service_id=4,
        effective_date=date(2026, 5, 1),
        unit_change=2,
        expect_units=12,
    )
    assert result is None
    assert posts == [
        {"contractID": 2, "contractServiceID": 3, "serviceID": 4, "effectiveDate": "2026-05-01", "unitChange": 2}
    ]


def test_a_lost_attachment_answer_is_found_by_title() -> None:
    posts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal posts
        if request.method == "POST":
            posts += 1
            raise httpx.ReadTimeout("lost")
        return httpx.Response(200, json={"items": [{"id": 44, "title": "seats-2026-05-abc.csv"}]})

    client, _ = client_for(handler)
    assert client.attach_to_note(8, title="seats-2026-05-abc.csv", filename="seats.csv", content=b"a,b\n") == 44
    assert posts == 1


def test_endpoint_of_drops_ids_and_query_suffixes() -> None:
    assert endpoint_of("/ATServicesRest/V1.0/Contracts/5/Notes") == "contracts/notes"
    assert endpoint_of("/atservicesrest/v1.0/Companies/query/next") == "companies"
    assert endpoint_of("/ATServicesRest/V1.0/ContractNotes/9/Attachments/3") == "contractnotes/attachments"


class Readings:
    """ThresholdInformation answers from a list of counts (the last one repeats)."""

    def __init__(self, *counts: int, limit: int = 200) -> None:
        self.counts, self.limit, self.reads = list(counts), limit, 0

    def __call__(self) -> ThresholdInformation:
        self.reads += 1
        used = self.counts.pop(0) if len(self.counts) > 1 else self.counts[0]
        return ThresholdInformation(
            externalRequestThreshold=self.limit, requestThresholdTimeframe=60, currentTimeframeRequestCount=used
        )


def budget(slept: list[float]) -> HourlyBudget:
    # share 50 % of 200 = 100, less a reserve of 2 for the threshold reads of a one-minute wait: 98
    return HourlyBudget(
        0.5, check_every=10, slow_from=0.8, slow_seconds=0.5, wait_seconds=60, max_wait=60, sleep=slept.append
    )


def test_hourly_budget_reads_the_threshold_every_n_requests_and_counts_its_own_in_between() -> None:
    slept: list[float] = []
    pacing, read = budget(slept), Readings(5, 30)
    for _ in range(40):  # far below the share (5..45 of 98): read every 4 x 10 requests
        pacing.before_request(read)
    assert read.reads == 1 and slept == []
    pacing.before_request(read)  # the 41st: due again
    assert read.reads == 2 and pacing.share_left() == pytest.approx(1 - 30 / 200)


def test_hourly_budget_slows_down_near_its_share_and_waits_once_it_is_used() -> None:
    slept: list[float] = []
    pacing, read = budget(slept), Readings(85)
    pacing.before_request(read)  # 85 of 98: past 80 % of the share, slower
    assert slept == [0.5]
    slept.clear()
    pacing, read = budget(slept), Readings(98, 20)
    pacing.before_request(read)  # the share is used: wait a minute, read again: 20, go on
    assert slept == [60] and read.reads == 2
    with pytest.raises(RateLimited):
        budget([]).before_request(Readings(98))


def test_hourly_budget_gives_up_after_max_wait() -> None:
    def read() -> ThresholdInformation:
        return ThresholdInformation(
            externalRequestThreshold=100, requestThresholdTimeframe=60, currentTimeframeRequestCount=99
        )

    budget = HourlyBudget(0.5, wait_seconds=60, max_wait=120, sleep=lambda s: None)
    with pytest.raises(RateLimited, match="50% of the Autotask hourly request budget"):
        budget.before_request(read)
