"""Autotask and HaloPSA send through the one HTTP policy (``connectors.http``), like ConnectWise and Gradient:
Retry-After in seconds and as an HTTP date, 5xx retried with jittered back-off, a refusal not retried, the
policy's own numbers and words."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from seatsync.connectors.autotask import AutotaskClient
from seatsync.connectors.halopsa import HaloPSAClient
from seatsync.connectors.http import RetryPolicy
from seatsync.connectors.limits import Unlimited
from seatsync.errors import RateLimited, RequestRejected, ServerError

Answer = Callable[[httpx.Request], httpx.Response]


@dataclass
class Remote:
    """One PSA behind ``httpx.MockTransport``: its own look-ups answered, the API call scripted."""

    system: str
    make: Callable[..., Any]  # (transport, **options) -> client
    call: Callable[[Any], object]  # one idempotent read
    api: Callable[[httpx.Request], bool]  # is this request the API call (not a zone or token look-up)?


def _autotask(transport: httpx.BaseTransport, **options: Any) -> AutotaskClient:
    return AutotaskClient(username="api@msp.example", secret="s", integration_code="C", transport=transport, **options)


def _halopsa(transport: httpx.BaseTransport, **options: Any) -> HaloPSAClient:
    return HaloPSAClient(
        url="https://acme.halopsa.com",
        client_id="app",
        client_secret="secret",
        transport=transport,
        limiter=Unlimited(),
        **options,
    )


REMOTES = [
    Remote(
        "Autotask",
        _autotask,
        lambda client: client.company(5),
        lambda request: "zoneinformation" not in request.url.path.lower(),
    ),
    Remote("HaloPSA", _halopsa, lambda client: client.get_licence(812), lambda r: r.url.path.startswith("/api/")),
]
OK = {
    "Autotask": {"item": {"id": 5, "companyName": "Acme"}},
    "HaloPSA": {"id": 812, "client_id": 45, "name": "Acme Seats", "count": 3},
}


def _own(request: httpx.Request) -> httpx.Response | None:
    if "zoneinformation" in request.url.path.lower():
        return httpx.Response(200, json={"zoneName": "x", "url": "https://webservices5.autotask.net/ATServicesRest/"})
    if request.url.path == "/auth/token":
        return httpx.Response(200, json={"access_token": "t", "expires_in": 3600, "scope": "all"})
    return None


class Script:
    """The API call's answers in turn (the last one repeats); every API request is kept."""

    def __init__(self, remote: Remote, *answers: httpx.Response | Exception) -> None:
        self.remote = remote
        self.answers = list(answers)
        self.api: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        own = _own(request)
        if own is not None:
            return own
        self.api.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def run(remote: Remote, *answers: httpx.Response | Exception, **options: Any) -> tuple[Script, list[float]]:
    script = Script(remote, *answers)
    sleeps: list[float] = []
    client = remote.make(httpx.MockTransport(script), sleep=sleeps.append, **options)
    with client:
        remote.call(client)
    return script, sleeps


def ok(remote: Remote) -> httpx.Response:
    return httpx.Response(200, json=OK[remote.system])


@pytest.fixture(params=REMOTES, ids=lambda r: r.system)
def remote(request: pytest.FixtureRequest) -> Remote:
    found: Remote = request.param
    return found


def test_a_429_with_retry_after_as_an_http_date_waits_until_that_date(remote: Remote) -> None:
    in_two_minutes = datetime.fromtimestamp(datetime.now(UTC).timestamp() + 120, UTC)
    date = in_two_minutes.strftime("%a, %d %b %Y %H:%M:%S GMT")  # whole seconds: up to 1 s earlier
    script, sleeps = run(remote, httpx.Response(429, headers={"Retry-After": date}, json="slow down"), ok(remote))
    assert len(script.api) == 2
    (slept,) = sleeps
    assert 118 <= slept <= 120


def test_a_429_with_retry_after_in_seconds_waits_that_long(remote: Remote) -> None:
    script, sleeps = run(remote, httpx.Response(429, headers={"Retry-After": "7"}), ok(remote))
    assert sleeps == [7.0] and len(script.api) == 2


def test_a_503_then_success_is_retried_after_a_jittered_back_off(remote: Remote) -> None:
    policy = RetryPolicy(backoff_base=2.0, backoff_cap=2.0)
    script, sleeps = run(remote, httpx.Response(503), ok(remote), retry=policy)
    assert len(script.api) == 2
    (slept,) = sleeps
    assert 0 <= slept <= 2.0  # full jitter: uniform(0, min(cap, base))


def test_a_400_is_not_retried(remote: Remote) -> None:
    script = Script(remote, httpx.Response(400, json={"message": "bad field"}), ok(remote))
    sleeps: list[float] = []
    with (
        remote.make(httpx.MockTransport(script), sleep=sleeps.append) as client,
        pytest.raises(RequestRejected, match=rf"{remote.system} refused .*HTTP 400 Bad Request.*bad field") as caught,
    ):
        remote.call(client)
    assert (caught.value.system, caught.value.status_code) == (remote.system, 400)
    assert len(script.api) == 1 and sleeps == []


def test_the_policy_given_is_the_one_followed_and_gives_up_in_its_words(remote: Remote) -> None:
    with pytest.raises(ServerError, match=r"gave up after 3 attempts") as caught:
        run(remote, httpx.Response(502, text="<html>proxy page</html>"), retry=RetryPolicy(max_retries=2))
    assert "proxy page" not in str(caught.value)  # a body that is not JSON is never echoed


def test_a_429_asking_for_longer_than_the_policy_allows_is_raised_at_once(remote: Remote) -> None:
    script = Script(remote, httpx.Response(429, headers={"Retry-After": "900"}))
    sleeps: list[float] = []
    with remote.make(httpx.MockTransport(script), sleep=sleeps.append) as client, pytest.raises(RateLimited) as caught:
        remote.call(client)
    assert caught.value.retry_after == 900 and sleeps == [] and len(script.api) == 1


def test_a_read_that_timed_out_is_retried(remote: Remote) -> None:
    script, sleeps = run(remote, httpx.ReadTimeout("slow"), ok(remote))
    assert len(script.api) == 2 and len(sleeps) == 1


def test_an_hourly_budget_used_up_is_raised_not_retried_by_the_policy() -> None:
    from seatsync.connectors.autotask import HourlyBudget

    script = Script(REMOTES[0], ok(REMOTES[0]))

    def used_up(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/ThresholdInformation"):
            return httpx.Response(
                200,
                json={
                    "externalRequestThreshold": 100,
                    "requestThresholdTimeframe": 60,
                    "currentTimeframeRequestCount": 99,
                },
            )
        return script(request)

    sleeps: list[float] = []
    budget = HourlyBudget(0.5, wait_seconds=60, max_wait=120, sleep=sleeps.append)
    with (
        _autotask(httpx.MockTransport(used_up), budget=budget, sleep=sleeps.append) as client,
        pytest.raises(RateLimited, match="hourly request budget"),
    ):
        client.company(5)
    assert script.api == [] and sleeps == [60, 60]  # the budget's own waits, then the push stops
