"""GradientClient over httpx.MockTransport: requests it sends, and every error class it raises."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import httpx
import pytest

from seatsync.connectors.gradient import (
    AccountsAlreadyExist,
    GradientClient,
    NewAccount,
    NotMappedInGradient,
)
from seatsync.connectors.http import RetryPolicy
from seatsync.connectors.limits import TokenBucket, Unlimited
from seatsync.errors import (
    AuthenticationFailed,
    ConfigurationError,
    PermissionDenied,
    RateLimited,
    RecordNotFound,
    RequestRejected,
    ServerError,
    TransportError,
    UserInputError,
)

Handler = Callable[[httpx.Request], httpx.Response]
PARTNER = "partner-s3cret"
VENDOR = "vendor-s3cret"


def make(handler: Handler, sleeps: list[float] | None = None, **kw: object) -> GradientClient:
    recorded = sleeps if sleeps is not None else []
    return GradientClient(
        vendor_key=VENDOR,
        partner_token=PARTNER,
        base_url="https://app.usegradient.com/",
        transport=httpx.MockTransport(handler),
        limiter=kw.pop("limiter", Unlimited()),  # type: ignore[arg-type]
        sleep=recorded.append,
        **kw,  # type: ignore[arg-type]
    )


def answer(status: int, body: object = None, headers: dict[str, str] | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return handler


def test_every_call_carries_the_token_header_and_accept() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"organizationId": "o1", "name": "MSP", "status": "inactive", "extra": 1})

    with make(handler) as client:
        org = client.get_organization()
    assert org.organization_id == "o1"
    assert org.name == "MSP"
    assert org.status == "inactive"
    request = seen[0]
    assert str(request.url) == "https://app.usegradient.com/api/vendor-api/organization"
    assert base64.b64decode(request.headers["GRADIENT-TOKEN"]).decode() == f"{VENDOR}:{PARTNER}"
    assert request.headers["Accept"] == "application/json"


def test_vendor_services_read_either_id_and_ignore_extra_fields() -> None:
    body = {
        "status": 200,
        "message": "ok",
        "data": {
            "_id": "v1",
            "name": "Vendor",
            "skus": [
                {"_id": "s1", "name": "A", "category": "security", "subcategory": "x", "price": 3},
                {"id": "s2", "name": "B"},
                {"_id": "s3", "id": "s3", "name": "C"},
            ],
        },
    }
    with make(answer(200, body)) as client:
        vendor = client.get_vendor()
    assert vendor.id == "v1"
    assert [(s.id, s.name) for s in vendor.skus] == [("s1", "A"), ("s2", "B"), ("s3", "C")]


def test_create_service_returns_the_new_service_from_the_vendor_answer() -> None:
    posted: list[object] = []

    def handler(request: httpx.Request) -> httpx.Response:
        posted.append(json.loads(request.content))
        skus = [{"_id": "old", "name": "Other"}, {"_id": "new", "id": "new", "name": "Phishing Simulation"}]
        return httpx.Response(201, json={"status": 201, "data": {"_id": "v", "skus": skus}, "message": "ok"})

    with make(handler) as client:
        service = client.create_service(
            name="Phishing Simulation", description="d", category="security", subcategory="phishing simulation"
        )
    assert service.id == "new"
    assert posted == [
        {
            "name": "Phishing Simulation",
            "description": "d",
            "category": "security",
            "subcategory": "phishing simulation",
        }
    ]


def test_set_unit_count_sends_a_number_and_no_build_flag() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"status": 201, "message": "ok"})

    with make(handler) as client:
        client.set_unit_count("svc 1", "acme/1", 0, no_build=True)
        client.set_unit_count("svc 1", "acme/1", 7, no_build=False)
    assert seen[0].url.raw_path == b"/api/vendor-api/service/svc%201/count?no_build=true"
    assert seen[0].url.params["no_build"] == "true"
    assert json.loads(seen[0].content) == {"accountId": "acme/1", "unitCount": 0}
    assert "no_build" not in seen[1].url.params
    assert json.loads(seen[1].content) == {"accountId": "acme/1", "unitCount": 7}


@pytest.mark.parametrize("bad", [None, 1.5, "3", True, -1])
def test_a_count_that_is_not_a_whole_number_is_refused_before_sending(bad: object) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(201)

    with make(handler) as client, pytest.raises(UserInputError, match="whole number"):
        client.set_unit_count("s", "a", bad, no_build=False)  # type: ignore[arg-type]
    assert sent == []


def test_accounts_list_create_and_rename() -> None:
    seen: list[tuple[str, str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        seen.append((request.method, request.url.path, body))
        if request.method == "GET":
            return httpx.Response(200, json=[{"id": 12, "name": "Acme", "isMapped": True, "mappingId": "m"}])
        return httpx.Response(201 if request.method == "POST" else 200, json=body)

    with make(handler) as client:
        accounts = client.list_accounts()
        client.create_accounts([NewAccount(id="c1", name="One"), NewAccount(id="c2", name="Two", description="d")])
        client.create_accounts([])  # nothing to send, no request
        client.rename_account("c1", "Uno")
    assert accounts[0].id == "12"
    assert accounts[0].is_mapped is True
    assert seen[1] == (
        "POST",
        "/api/vendor-api/organization/accounts",
        [{"id": "c1", "name": "One"}, {"id": "c2", "name": "Two", "description": "d"}],
    )
    assert seen[2] == ("PATCH", "/api/vendor-api/organization/accounts/c1", {"name": "Uno"})
    assert len(seen) == 3


def test_set_status_is_case_sensitive_and_checked_locally() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json={"data": {}, "status": 200, "message": "Success - Updated Integration Status"})

    with make(handler) as client:
        client.set_status("pending")
        with pytest.raises(UserInputError, match="not one of"):
            client.set_status("Pending")
    assert seen == ["/api/vendor-api/organization/status/pending"]


# ---- errors


def test_401_is_authentication_failed_and_never_shows_the_token() -> None:
    with make(answer(401, {"statusCode": 401, "message": "Unauthorized"})) as client:
        with pytest.raises(AuthenticationFailed) as info:
            client.list_accounts()
        assert PARTNER not in repr(client)
        assert VENDOR not in repr(client)
    err = info.value
    assert "partner token was rejected or expired" in str(err)
    assert err.status_code == 401
    assert err.system == "Gradient"
    token = base64.b64encode(f"{VENDOR}:{PARTNER}".encode()).decode()
    for text in (str(err), repr(err), err.path or ""):
        assert PARTNER not in text
        assert VENDOR not in text
        assert token not in text


def test_400_is_request_rejected_with_gradient_words() -> None:
    body = {"statusCode": 400, "message": ["id must be a string", "name should not be empty"]}
    with make(answer(400, body)) as client, pytest.raises(RequestRejected) as info:
        client.create_accounts([NewAccount(id="x", name="y")])
    assert "id must be a string; name should not be empty" in str(info.value)
    assert not isinstance(info.value, AccountsAlreadyExist)


def test_403_is_permission_denied_naming_the_anomaly() -> None:
    with (
        make(answer(403, {"statusCode": 403, "message": "anomaly"})) as client,
        pytest.raises(PermissionDenied) as info,
    ):
        client.get_vendor()
    assert "anomaly" in str(info.value)


def test_404_on_a_count_is_not_mapped_and_elsewhere_plain_not_found() -> None:
    body = {"statusCode": 404, "message": "No account map found with id: c9"}
    with make(answer(404, body)) as client:
        with pytest.raises(NotMappedInGradient) as info:
            client.set_unit_count("svc", "c9", 3, no_build=False)
        assert info.value.account_id == "c9"
        assert info.value.service_id == "svc"
        assert "not mapped in Gradient" in str(info.value)
        assert "No account map found with id: c9" in str(info.value)
        assert isinstance(info.value, RecordNotFound)
        with pytest.raises(RecordNotFound) as other:
            client.rename_account("c9", "x")
        assert not isinstance(other.value, NotMappedInGradient)


def test_409_on_account_creation_is_accounts_already_exist() -> None:
    body = {"statusCode": 409, "message": "Account already exists with id: c1"}
    with make(answer(409, body)) as client, pytest.raises(AccountsAlreadyExist, match="c1"):
        client.create_accounts([NewAccount(id="c1", name="One")])


def test_429_waits_retry_after_then_succeeds_and_is_counted() -> None:
    answers = iter(
        [
            httpx.Response(429, json={"statusCode": 429, "message": "Too Many Requests"}, headers={"Retry-After": "2"}),
            httpx.Response(200, json=[]),
        ]
    )
    sleeps: list[float] = []
    with make(lambda request: next(answers), sleeps) as client:
        assert client.list_accounts() == []
        assert (client.request_count, client.rate_limited_count, client.retry_count) == (2, 1, 1)
    assert sleeps == [2.0]


def test_429_pauses_a_shared_token_bucket_for_every_thread() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200, json=[])])
    waits: list[float] = []
    now = [0.0]
    bucket = TokenBucket(10, burst=1, clock=lambda: now[0], sleep=waits.append)
    with make(lambda request: next(answers), limiter=bucket) as client:
        client.list_accounts()
    # the retry waited out Retry-After in the bucket (3 s plus its own slot), not in a private sleep
    assert len(waits) == 1
    assert waits[0] == pytest.approx(3.1)


def test_429_for_too_long_gives_up_with_rate_limited() -> None:
    sleeps: list[float] = []
    with (
        make(answer(429, {"statusCode": 429}), sleeps, retry=RetryPolicy(max_rate_limit_waits=2)) as client,
        pytest.raises(RateLimited) as info,
    ):
        client.get_organization()
    assert "gave up after 3 attempts" in str(info.value)
    assert client.rate_limited_count == 3
    assert len(sleeps) == 2


def test_5xx_is_retried_with_bounded_backoff_then_server_error() -> None:
    sleeps: list[float] = []
    with make(answer(502, {"message": "bad gateway"}), sleeps, retry=RetryPolicy(max_retries=3)) as client:
        with pytest.raises(ServerError, match="502"):
            client.list_accounts()
        assert client.request_count == 4
    assert len(sleeps) == 3
    assert all(0 <= s <= 30 for s in sleeps)


def test_5xx_then_success_returns_the_answer() -> None:
    answers = iter([httpx.Response(503), httpx.Response(500), httpx.Response(200, json=[{"id": "a", "name": "A"}])])
    with make(lambda request: next(answers)) as client:
        assert [a.id for a in client.list_accounts()] == ["a"]


@pytest.mark.parametrize(
    "exc",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("peer closed connection")],
)
def test_transport_failures_are_retried_then_transport_error(exc: Exception) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    with make(handler, retry=RetryPolicy(max_retries=1)) as client, pytest.raises(TransportError) as info:
        client.get_organization()
    assert not isinstance(info.value.__cause__, httpx.HTTPError)
    assert not isinstance(info.value.__context__, httpx.HTTPError)


def test_a_dropped_connection_then_success() -> None:
    calls = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        calls[0] += 1
        if calls[0] == 1:
            raise httpx.ReadError("connection reset")
        return httpx.Response(201, json={"status": 201})

    with make(handler) as client:
        client.set_unit_count("s", "a", 1, no_build=False)
    assert calls[0] == 2


def test_an_answer_that_is_not_json_is_rejected_naming_the_url() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>login</html>")

    with make(handler) as client, pytest.raises(RequestRejected, match="not JSON"):
        client.get_organization()


def test_missing_configuration_is_refused_clearly() -> None:
    with pytest.raises(ConfigurationError, match="SEATSYNC_GRADIENT_VENDOR_KEY"):
        GradientClient(vendor_key="", partner_token="p", limiter=Unlimited())
    with pytest.raises(UserInputError, match="token is empty"):
        GradientClient(vendor_key="v", partner_token="", limiter=Unlimited())
    with pytest.raises(UserInputError, match="not an http"):
        GradientClient(vendor_key="v", partner_token="p", base_url="ftp://x", limiter=Unlimited())


def test_create_service_with_a_bare_answer_reads_the_vendor_profile() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(201, json={"status": 201, "message": "Success"})
        return httpx.Response(
            200, json={"status": 200, "data": {"skus": [{"_id": "s9", "name": "SAT"}]}, "message": ""}
        )

    with make(handler) as client:
        assert client.create_service(name="SAT", description="", category="security", subcategory="x").id == "s9"
