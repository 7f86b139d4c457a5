"""HaloPSAClient over httpx.MockTransport: the token, paging, upserts, pacing and every error shape."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from urllib.parse import parse_qs

import httpx
import pytest

from seatsync.connectors.halopsa import (
    RETRY,
    HaloPSAClient,
    NewLicence,
    Paging,
    Permission,
    SoftwareLicence,
    base_url,
    rolling_window_limiter,
)
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

SECRET = "s3cr3t-halo-SECRET"
Handler = Callable[[httpx.Request], httpx.Response]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Halo:
    """A scripted HaloPSA: tokens numbered 1, 2, ...; ``api`` answers everything under /api."""

    def __init__(self, api: Handler, *, expires_in: int = 3600, scope: str = "all") -> None:
        self.api = api
        self.expires_in = expires_in
        self.scope = scope
        self.tokens = 0
        self.requests: list[httpx.Request] = []
        self.token_forms: list[dict[str, list[str]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/auth/token":
            form = parse_qs(request.content.decode())
            self.token_forms.append(form)
            if form.get("client_secret") != [SECRET]:
                return httpx.Response(400, json={"error": "invalid_client"})
            self.tokens += 1
            return httpx.Response(
                200,
                json={
                    "token_type": "Bearer",
                    "access_token": f"token-{self.tokens}",
                    "expires_in": self.expires_in,
                    "scope": self.scope,
                },
            )
        return self.api(request)

    @property
    def api_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.startswith("/api/")]


def make(
    api: Handler, *, secret: str = SECRET, clock: Clock | None = None, **options: object
) -> tuple[HaloPSAClient, Halo, Clock]:
    clock = clock or Clock()
    halo = Halo(api, **{k: options.pop(k) for k in ("expires_in", "scope") if k in options})  # type: ignore[arg-type]
    client = HaloPSAClient(
        url="https://acme.halopsa.com",
        client_id="app-id",
        client_secret=secret,
        transport=httpx.MockTransport(halo),
        limiter=Unlimited(),
        sleep=clock.sleep,
        clock=clock,
        **options,  # type: ignore[arg-type]
    )
    return client, halo, clock


def licence(id: int, count: int = 3, client_id: int = 45, name: str = "Acme Phishing") -> dict[str, object]:
    return {"id": id, "client_id": client_id, "name": name, "count": count}


# -- URLs and the token ----------------------------------------------------------------------------------


def test_urls_follow_the_base() -> None:
    assert base_url("acme.halopsa.com") == "https://acme.halopsa.com"
    assert base_url("https://acme.halopsa.com/api/") == "https://acme.halopsa.com"
    with pytest.raises(ConfigurationError, match="http"):
        base_url("ftp://acme")
    with pytest.raises(ConfigurationError, match="client secret"):
        HaloPSAClient(url="https://x", client_id="a", client_secret=" ")


def test_token_request_form_tenant_and_bearer_header() -> None:
    client, halo, _ = make(lambda r: httpx.Response(200, json=licence(812)), halo_tenant="acme")
    client.get_licence(812)
    token_request, api_request = halo.requests
    assert token_request.url.path == "/auth/token"
    assert token_request.url.params["tenant"] == "acme"
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert halo.token_forms[0] == {
        "grant_type": ["client_credentials"],
        "client_id": ["app-id"],
        "client_secret": [SECRET],
        "scope": ["all"],
    }
    assert api_request.url.path == "/api/SoftwareLicence/812"
    assert api_request.headers["authorization"] == "Bearer token-1"
    assert SECRET not in repr(client)


def test_token_is_kept_until_shortly_before_it_expires() -> None:
    client, halo, clock = make(lambda r: httpx.Response(200, json=licence(812)), expires_in=3600)
    client.get_licence(812)
    clock.now += 3600 - 61  # still more than a minute left
    client.get_licence(812)
    assert halo.tokens == 1
    clock.now += 2  # within the last minute: fetched again before use
    client.get_licence(812)
    assert halo.tokens == 2
    assert [r.headers["authorization"] for r in halo.api_requests] == ["Bearer token-1"] * 2 + ["Bearer token-2"]


def test_a_401_fetches_a_new_token_once_and_repeats_the_call() -> None:
    def api(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == "Bearer token-1":
            return httpx.Response(401, json={"Message": "Authorization has been denied for this request."})
        return httpx.Response(200, json=licence(812, count=7))

    client, halo, _ = make(api)
    assert client.get_licence(812).count == 7
    assert halo.tokens == 2
    assert len(halo.api_requests) == 2


def test_a_second_401_is_authentication_failed() -> None:
    client, halo, _ = make(lambda r: httpx.Response(401, json={"Message": "Authorization has been denied"}))
    with pytest.raises(AuthenticationFailed, match="Authorization has been denied") as caught:
        client.get_licence(1)
    assert halo.tokens == 2 and len(halo.api_requests) == 2
    assert caught.value.system == "HaloPSA"


def test_refused_client_secret_is_authentication_failed_without_the_secret() -> None:
    client, _, _ = make(lambda r: httpx.Response(200, json={}), secret="wrong-secret")
    with pytest.raises(AuthenticationFailed, match="client id and secret") as caught:
        client.get_licence(1)
    assert "wrong-secret" not in str(caught.value)


def test_invalid_scope_falls_back_to_the_applications_own_scopes() -> None:
    forms: list[dict[str, list[str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/token":
            form = parse_qs(request.content.decode())
            forms.append(form)
            if "scope" in form:
                return httpx.Response(400, json={"error": "invalid_scope"})
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600, "scope": "read:customers"})
        return httpx.Response(200, json={"record_count": 0, "clients": []})

    client = HaloPSAClient(
        url="https://acme.halopsa.com",
        client_id="a",
        client_secret="b",
        transport=httpx.MockTransport(handler),
        limiter=Unlimited(),
    )
    assert client.granted_scopes == {"read:customers"}
    assert [("scope" in f) for f in forms] == [True, False]


# -- paging -------------------------------------------------------------------------------------------------


def test_paging_follows_record_count_through_page_no() -> None:
    clients = [{"id": n, "name": f"Client {n:03d}"} for n in range(1, 251)]

    def api(request: httpx.Request) -> httpx.Response:
        q = request.url.params
        assert q["pageinate"] == "true"
        size, number = int(q["page_size"]), int(q["page_no"])
        return httpx.Response(
            200, json={"record_count": len(clients), "clients": clients[(number - 1) * size : number * size]}
        )

    client, halo, _ = make(api)
    found = client.list_customers(search="Client")
    assert [c.id for c in found] == list(range(1, 251))
    assert [r.url.params["page_no"] for r in halo.api_requests] == ["1", "2", "3"]
    assert {r.url.params["search"] for r in halo.api_requests} == {"Client"}


def test_paging_stops_on_an_empty_page_even_if_record_count_says_more() -> None:
    def api(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page_no"])
        rows = [{"id": n} for n in range(100)] if number == 1 else []
        return httpx.Response(200, json={"record_count": 1000, "licences": rows})

    client, halo, _ = make(api)
    assert len(client.list_licences(client_id=45)) == 100
    assert len(halo.api_requests) == 2
    assert halo.api_requests[0].url.params["client_id"] == "45"


def test_paging_is_pure() -> None:
    paging = Paging("SoftwareLicence", 50)
    assert paging.key == "licences"
    assert paging.params(2) == {"pageinate": "true", "page_size": "50", "page_no": "2"}
    assert paging.pages(101) == 3 and paging.pages(0) == 1
    page = paging.parse({"record_count": 120, "licences": [{"id": i} for i in range(50)]}, 1)
    assert paging.next_page(page) == 2
    last = paging.parse({"record_count": 120, "licences": [{"id": i} for i in range(20)]}, 3)
    assert paging.next_page(last) is None
    # a version naming the key differently: the one list in the wrapper
    assert len(paging.parse({"record_count": 1, "softwarelicences": [{"id": 1}]}, 1).records) == 1
    assert len(paging.parse([{"id": 1}, {"id": 2}], 1).records) == 2
    with pytest.raises(ValueError, match="page_size"):
        Paging("Client", 1000)


# -- upserts ----------------------------------------------------------------------------------------------


def test_upsert_posts_one_array_and_reads_the_saved_records() -> None:
    bodies: list[object] = []

    def api(request: httpx.Request) -> httpx.Response:
        assert request.method == "POST" and request.url.path == "/api/SoftwareLicence"
        body = json.loads(request.content)
        bodies.append(body)
        return httpx.Response(200, json=body)

    client, _, _ = make(api)
    saved = client.upsert_licences([licence(812, 42), licence(813, 9, client_id=46, name="Globex SAT")])
    assert bodies == [[licence(812, 42), licence(813, 9, client_id=46, name="Globex SAT")]]
    assert [(s.id, s.count) for s in saved] == [(812, 42), (813, 9)]


def test_an_update_is_repeated_after_a_lost_answer_a_creation_is_looked_for() -> None:
    posts: list[object] = []
    stored: list[dict[str, object]] = []

    def api(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            body = json.loads(request.content)
            posts.append(body)
            if "id" not in body[0]:
                stored.append({**body[0], "id": 900})
            if len(posts) in (1, 3):
                raise httpx.ReadTimeout("lost", request=request)
            return httpx.Response(200, json=body)
        return httpx.Response(200, json={"record_count": len(stored), "licences": stored})

    client, _, _ = make(api)
    client.upsert_licences([licence(812, 42)])  # the update is repeated: absolute values
    assert len(posts) == 2
    created = client.create_licence(NewLicence(client_id=45, name="Acme Seats", item_id=7))
    assert created.id == 900
    assert len(posts) == 3  # not posted twice: the lost creation was found
    assert len(stored) == 1


# -- every error shape ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error", "words"),
    [
        (400, "Invalid client_id supplied", RequestRejected, "Invalid client_id supplied"),
        (
            400,
            {"ClassName": "System.Exception", "Message": "Licence name is required"},
            RequestRejected,
            "Licence name is required",
        ),
        (404, {"Message": "No SoftwareLicence found with id 9"}, RecordNotFound, "No SoftwareLicence found"),
        (400, {"resultCode": 3, "errorMessage": "The client is inactive"}, RequestRejected, "The client is inactive"),
        (
            403,
            {"error": "insufficient_scope", "error_description": "edit:softwarelicensing required"},
            PermissionDenied,
            "edit:softwarelicensing required",
        ),
        (400, "<html><body>Bad Request</body></html>", RequestRejected, "Bad Request"),
    ],
)
def test_each_error_shape_is_translated_with_halos_words(
    status: int, body: object, error: type[Exception], words: str
) -> None:
    def api(request: httpx.Request) -> httpx.Response:
        if isinstance(body, str) and body.startswith("<"):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    client, _, _ = make(api)
    with pytest.raises(error, match=words):
        client.upsert_licences([licence(812, 1)])


def test_403_names_the_permission_on_both_sides() -> None:
    client, _, _ = make(lambda r: httpx.Response(403, json={"Message": "Forbidden"}))
    with pytest.raises(PermissionDenied) as caught:
        client.set_licence_count(SoftwareLicence.model_validate(licence(812)), 5)
    assert caught.value.right == Permission.EDIT_LICENCES.value
    message = str(caught.value)
    assert "edit software licensing" in message and "edit:softwarelicensing" in message
    assert "login agent" in message and "Software Licensing access level Read and Modify" in message


def test_token_endpoint_oauth_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "unauthorized_client", "error_description": "Unknown client"})

    client = HaloPSAClient(
        url="https://x.halopsa.com", client_id="a", client_secret="b", transport=httpx.MockTransport(handler)
    )
    with pytest.raises(AuthenticationFailed, match="Unknown client"):
        client.check_token()


# -- retries and pacing -------------------------------------------------------------------------------------


def test_429_backs_off_from_five_seconds_and_the_call_succeeds() -> None:
    answers = iter([429, 429, 200])

    def api(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        if status == 429:
            return httpx.Response(429, json="Rate Limit Reached - 300 Requests per rolling 5 minute window")
        return httpx.Response(200, json=licence(812))

    client, _, clock = make(api)
    start = clock.now
    assert client.get_licence(812).id == 812
    assert 5 + 10 <= clock.now - start <= 5 + 10 + 2 * RETRY.rate_limit_jitter  # the shared, jittered back-off
    assert client.rate_limited == 2


def test_429_honours_retry_after_and_gives_up_eventually() -> None:
    client, halo, clock = make(
        lambda r: httpx.Response(429, json="Rate Limit Reached", headers={"Retry-After": "7"}),
        retry=replace(RETRY, max_rate_limit_waits=2),
    )
    start = clock.now
    with pytest.raises(RateLimited, match="Rate Limit Reached"):
        client.get_licence(1)
    assert clock.now - start == pytest.approx(14)
    assert len(halo.api_requests) == 3


def test_server_errors_and_timeouts_are_retried_then_raised() -> None:
    calls = {"n": 0}

    def api(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ConnectError("refused", request=request)
        if calls["n"] == 2:
            return httpx.Response(500, json={"ClassName": "System.NullReferenceException", "Message": "oops"})
        return httpx.Response(200, json=licence(812))

    client, _, _ = make(api)
    assert client.get_licence(812).id == 812
    failing, _, _ = make(lambda r: httpx.Response(503, text="down"), retry=replace(RETRY, max_retries=1))
    with pytest.raises(ServerError, match="HTTP 503 Service Unavailable"):  # a body that is not JSON: not echoed
        failing.get_licence(1)
    timing_out, _, _ = make(
        lambda r: (_ for _ in ()).throw(httpx.ReadTimeout("slow", request=r)), retry=replace(RETRY, max_retries=0)
    )
    with pytest.raises(TransportError, match="could not reach the HaloPSA URL"):  # whatever the cause
        timing_out.get_licence(1)


def test_rolling_window_limiter_never_exceeds_the_limit_in_any_window() -> None:
    clock = Clock()
    limiter = rolling_window_limiter(300, 300.0, clock=clock, sleep=clock.sleep)
    sent: list[float] = []
    for _ in range(1200):
        limiter.acquire()
        sent.append(clock.now)
    worst = max(sum(1 for t in sent[i:] if t < start + 300.0) for i, start in enumerate(sent))
    assert worst <= 300
    # and it runs close to the limit: the steady rate is 95 % of it
    assert (len(sent) - 1) / (sent[-1] - sent[0]) == pytest.approx(0.95, rel=0.02)
