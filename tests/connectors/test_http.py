"""The one HTTP policy (``connectors.http``): outbound hosts, Retry-After, paging, answers, transport words."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import httpx
import pytest

from seatsync.connectors.connectwise.errors import CONNECTWISE
from seatsync.connectors.gradient.client import GRADIENT
from seatsync.connectors.http import (
    AUTOTASK_HOSTS,
    HALOPSA_HOSTS,
    HttpClient,
    LinkPaging,
    OutboundHosts,
    RemoteSystem,
    RetryPolicy,
    error_for_status,
    parse_retry_after,
    remote_message,
)
from seatsync.errors import (
    ConfigurationError,
    HostNotAllowed,
    RateLimited,
    RequestRejected,
    ServerError,
    TransportError,
    UserInputError,
)

AUTOTASK = RemoteSystem(name="Autotask", public_hosts=AUTOTASK_HOSTS)
HALOPSA = RemoteSystem(name="HaloPSA", public_hosts=HALOPSA_HOSTS)


def permits(system: RemoteSystem, url: str, allowed: tuple[str, ...] = ()) -> bool:
    return OutboundHosts(system, allowed).permits(httpx.URL(url))


@pytest.mark.parametrize(
    ("system", "url"),
    [
        (CONNECTWISE, "https://api-na.myconnectwise.net/login/companyinfo/acme"),
        (CONNECTWISE, "https://api-eu.myconnectwise.net/v2025_1/apis/3.0/system/info"),
        (CONNECTWISE, "https://api-staging.connectwisedev.com/x"),
        (GRADIENT, "https://app.usegradient.com/api/vendor-api"),
        (AUTOTASK, "https://webservices5.autotask.net/ATServicesRest/V1.0/Companies/query"),
        (HALOPSA, "https://acme.halopsa.com/api/Client"),
    ],
)
def test_each_systems_public_api_is_allowed_over_https(system: RemoteSystem, url: str) -> None:
    assert permits(system, url)


@pytest.mark.parametrize(
    ("system", "url"),
    [
        (CONNECTWISE, "http://api-na.myconnectwise.net/"),  # not HTTPS
        (CONNECTWISE, "https://api-na.myconnectwise.net:8443/"),  # not the default port
        (CONNECTWISE, "https://myconnectwise.net.evil.example/"),
        (CONNECTWISE, "https://evilmyconnectwise.net/"),
        (CONNECTWISE, "https://app.usegradient.com/"),  # another system's host
        (GRADIENT, "https://evil.usegradient.com/"),
        (GRADIENT, "http://127.0.0.1:8092/"),
        (GRADIENT, "http://169.254.169.254/latest/meta-data/"),
        (CONNECTWISE, "http://10.0.0.5/"),
        (CONNECTWISE, "http://[::1]:8101/"),
        (CONNECTWISE, "http://localhost:5432/"),
    ],
)
def test_anything_else_is_refused_without_the_operators_word(system: RemoteSystem, url: str) -> None:
    assert not permits(system, url)


def test_the_operator_allows_hosts_host_ports_and_networks() -> None:
    allowed = ("cw.internal.example", "proxy.example:8443", "10.20.0.0/16", "[::1]:8101", "127.0.0.1")
    assert permits(CONNECTWISE, "http://cw.internal.example/", allowed)
    assert permits(CONNECTWISE, "https://CW.internal.example:9000/", allowed)  # a host alone: any port
    assert permits(CONNECTWISE, "https://proxy.example:8443/", allowed)
    assert not permits(CONNECTWISE, "https://proxy.example:8444/", allowed)
    assert permits(CONNECTWISE, "http://10.20.3.4:8080/", allowed)
    assert not permits(CONNECTWISE, "http://10.21.3.4/", allowed)
    assert permits(CONNECTWISE, "http://[::1]:8101/", allowed)
    assert not permits(CONNECTWISE, "http://[::1]:8102/", allowed)
    assert permits(CONNECTWISE, "http://127.0.0.1:1/", allowed)
    assert not permits(CONNECTWISE, "http://127.0.0.2:1/", allowed)


def test_a_network_entry_covers_a_name_only_when_every_address_of_it_is_inside() -> None:
    assert permits(CONNECTWISE, "http://localhost:8101/", ("127.0.0.0/8", "::1/128"))
    assert not permits(CONNECTWISE, "http://localhost:8101/", ("10.0.0.0/8",))


@pytest.mark.parametrize("entry", ["cw.example.com:http", "cw.example.com:0", "https://cw.example.com", "a b/c"])
def test_a_bad_allowed_host_names_itself_and_the_variable(entry: str) -> None:
    with pytest.raises(ConfigurationError, match="SEATSYNC_ALLOWED_HOSTS") as caught:
        OutboundHosts(CONNECTWISE, [entry])
    assert repr(entry) in str(caught.value)


def test_the_setting_is_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    from seatsync.config import Settings

    monkeypatch.setenv("SEATSYNC_ALLOWED_HOSTS", "cw.example.com:8443, 10.0.0.0/8,,localhost")
    assert Settings().allowed_hosts == ["cw.example.com:8443", "10.0.0.0/8", "localhost"]


def _recording(handler: httpx.MockTransport | None = None) -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    return seen, httpx.MockTransport(answer)


def test_a_refused_address_is_refused_before_anything_is_sent() -> None:
    seen, transport = _recording()
    with HttpClient(GRADIENT, transport=transport, allowed_hosts=[]) as http, pytest.raises(HostNotAllowed) as caught:
        http.send("GET", "http://10.1.2.3:6379/")
    assert seen == []
    assert isinstance(caught.value, UserInputError)  # a tenant admin's address: answered 422, not retried
    assert "SEATSYNC_ALLOWED_HOSTS" in str(caught.value)
    assert "app.usegradient.com" in str(caught.value)


def test_redirects_are_not_followed_even_to_an_allowed_host() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})

    with (
        HttpClient(GRADIENT, transport=httpx.MockTransport(answer), allowed_hosts=[]) as http,
        pytest.raises(RequestRejected, match="does not follow redirects"),
    ):
        http.send("GET", "https://app.usegradient.com/api/vendor-api")
    assert [str(r.url) for r in seen] == ["https://app.usegradient.com/api/vendor-api"]


def test_retry_after_in_seconds_and_as_an_http_date() -> None:
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("30", now=now) == 30
    assert parse_retry_after("0.5", now=now) == 0.5
    assert parse_retry_after("Sun, 01 Mar 2026 12:00:45 GMT", now=now) == 45
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now=now) == 0.0  # in the past
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


def test_a_429_with_an_http_date_waits_until_that_date() -> None:
    in_two_minutes = datetime.fromtimestamp(datetime.now(UTC).timestamp() + 120, UTC)
    date = in_two_minutes.strftime("%a, %d %b %Y %H:%M:%S GMT")  # whole seconds: up to 1 s earlier
    answers = iter([httpx.Response(429, headers={"Retry-After": date}), httpx.Response(200, json={})])
    sleeps: list[float] = []
    with HttpClient(GRADIENT, transport=httpx.MockTransport(lambda r: next(answers)), sleep=sleeps.append) as http:
        http.send("GET", "https://app.usegradient.com/x")
        assert http.rate_limited == 1
    (slept,) = sleeps
    assert 118 <= slept <= 120


def test_retries_are_bounded_and_jittered_and_give_up_saying_so() -> None:
    sleeps: list[float] = []
    answers = httpx.MockTransport(lambda r: httpx.Response(503))
    policy = RetryPolicy(max_retries=3, backoff_base=1.0, backoff_cap=2.0)
    with HttpClient(GRADIENT, transport=answers, retry=policy, sleep=sleeps.append) as http:
        with pytest.raises(ServerError, match=r"gave up after 4 attempts") as caught:
            http.send("GET", "https://app.usegradient.com/x")
        assert http.requests_sent == 4
    assert len(sleeps) == 3
    assert all(0 <= s <= cap for s, cap in zip(sleeps, [1, 2, 2], strict=True))
    assert (caught.value.status_code, caught.value.method, caught.value.path) == (503, "GET", "/x")


def test_a_post_that_may_have_landed_is_not_repeated_but_one_never_sent_is() -> None:
    calls: list[str] = []

    def dropped(request: httpx.Request) -> httpx.Response:
        calls.append("dropped")
        raise httpx.ReadError("reset after the request was sent")

    with (
        HttpClient(GRADIENT, transport=httpx.MockTransport(dropped), sleep=lambda s: None) as http,
        pytest.raises(TransportError),
    ):
        http.send("POST", "https://app.usegradient.com/x", idempotent=False)
    assert calls == ["dropped"]

    answers = iter([httpx.ConnectError("refused"), httpx.Response(201, json={})])

    def refused_once(request: httpx.Request) -> httpx.Response:
        outcome = next(answers)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    with HttpClient(GRADIENT, transport=httpx.MockTransport(refused_once), sleep=lambda s: None) as http:
        assert http.send("POST", "https://app.usegradient.com/x", idempotent=False).status_code == 201
        assert http.requests_sent == 2


def test_a_429_beyond_the_longest_wait_is_raised_at_once() -> None:
    sleeps: list[float] = []
    transport = httpx.MockTransport(lambda r: httpx.Response(429, headers={"Retry-After": "900"}))
    with HttpClient(GRADIENT, transport=transport, sleep=sleeps.append) as http:
        with pytest.raises(RateLimited) as caught:
            http.send("GET", "https://app.usegradient.com/x")
        assert http.requests_sent == 1
    assert caught.value.retry_after == 900
    assert sleeps == []


def test_a_remote_body_that_is_not_json_is_never_echoed() -> None:
    page = "<html><title>Internal admin</title>SECRET-INSIDE-PAGE</html>"
    request = httpx.Request("GET", "https://app.usegradient.com/x")
    for status in (200, 400, 404, 500):
        response = httpx.Response(status, text=page, request=request)
        assert remote_message(response) == ""
        error = error_for_status(response, system=GRADIENT)
        assert error is None or "SECRET" not in str(error)
    transport = httpx.MockTransport(lambda r: httpx.Response(200, text=page))
    with HttpClient(GRADIENT, transport=transport) as http, pytest.raises(RequestRejected, match="not JSON") as caught:
        http.json(http.send("GET", "https://app.usegradient.com/x"))
    assert "SECRET" not in str(caught.value)


def test_a_json_message_is_quoted_short_and_on_one_line() -> None:
    request = httpx.Request("PATCH", "https://app.usegradient.com/x")
    body = {"message": "quantity\nmust be a number " + "x" * 500, "errors": [{"message": "bad", "field": "q"}]}
    said = remote_message(httpx.Response(400, json=body, request=request))
    assert "\n" not in said
    assert len(said) <= 200
    assert said.startswith("quantity must be a number")


def test_transport_failures_read_the_same_whatever_the_cause() -> None:
    words = set()
    for failure in (httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("reset")):

        def fail(request: httpx.Request, failure: Exception = failure) -> httpx.Response:
            raise failure

        with (
            HttpClient(
                CONNECTWISE, transport=httpx.MockTransport(fail), retry=RetryPolicy(max_retries=0), sleep=lambda s: None
            ) as http,
            pytest.raises(TransportError) as caught,
        ):
            http.send("GET", "https://api-na.myconnectwise.net/x")
        words.add(str(caught.value))
    (only,) = words
    assert only.startswith("could not reach the ConnectWise site api-na.myconnectwise.net")


def test_open_and_closed_ports_give_the_same_error_over_real_sockets() -> None:
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    open_port = listening.getsockname()[1]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    messages = []
    try:
        for port in (open_port, closed_port):
            with (
                HttpClient(
                    CONNECTWISE, timeout=0.3, retry=RetryPolicy(max_retries=0), allowed_hosts=["127.0.0.1"]
                ) as http,
                pytest.raises(TransportError) as caught,
            ):
                http.send("GET", f"http://127.0.0.1:{port}/x")
            messages.append(str(caught.value).replace(str(port), "PORT"))
    finally:
        listening.close()
    assert messages[0] == messages[1]


def test_link_paging_takes_only_the_next_links_query() -> None:
    paging = LinkPaging(page_size=1000)
    assert paging.first({"conditions": "x", "fields": None}) == {"conditions": "x", "page": 1, "pageSize": 1000}
    link = '<https://elsewhere/a?page=2&pageSize=1000>; rel="next", <https://elsewhere/a?page=3>; rel="last"'
    response = httpx.Response(200, headers={"Link": link})
    assert paging.following({}, response, [1]) == {"page": "2", "pageSize": "1000"}
    assert paging.following({}, response, []) is None  # an empty page ends the list
    last = httpx.Response(200, headers={"Link": '<https://h/a?page=1>; rel="first", <https://h/a?page=2>; rel="prev"'})
    assert paging.following({}, last, [1]) is None
    assert paging.following({}, httpx.Response(200), [1]) is None


def test_a_zone_autotask_answers_with_an_internal_url_is_never_called() -> None:
    from seatsync.connectors.autotask.client import AutotaskClient

    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if "zoneInformation" in request.url.path:  # a tampered answer: the "zone" is an address inside
            return httpx.Response(200, json={"zoneName": "x", "url": "http://10.9.8.7:8080/ATServicesRest/", "ci": 1})
        return httpx.Response(200, json={"item": {"id": 5, "companyName": "Acme"}})

    client = AutotaskClient(
        username="api@msp.example", secret="s", integration_code="C", transport=httpx.MockTransport(answer)
    )
    with client, pytest.raises(HostNotAllowed, match=r"10\.9\.8\.7"):
        client.company(5)
    assert all("10.9.8.7" not in url for url in seen)
    assert len(seen) == 1  # the zone look-up only
