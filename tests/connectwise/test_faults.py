"""Acceptance 3: with faults and a rate limit, every update lands exactly once and every 429 is honoured.

The sandbox's rate window is shrunk (600 requests per 5 s instead of per minute) and so are its slow
answers and the client's timeout, so the test takes seconds; the proportions are ConnectWise's.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from seatsync.connectors.connectwise import ConnectWiseClient
from seatsync.connectors.http import RetryPolicy
from seatsync.connectors.limits import TokenBucket, Unlimited
from seatsync.sandboxes.connectwise import ConnectWiseSandbox, create_app
from seatsync.sandboxes.connectwise.state import LoggedRequest
from seatsync.sandboxes.server import BackgroundServer

WINDOW = 5.0
LIMIT = 600
#: a request already on the wire when the 429 was sent may still arrive just after it
IN_FLIGHT = 0.1


def _client(url: str, **options: object) -> ConnectWiseClient:
    return ConnectWiseClient(
        site=url,
        company_id="demo",
        public_key="demo-public",
        private_key="demo-private",
        client_id="fault-test",
        **options,  # type: ignore[arg-type]
    )


def violations_of_retry_after(requests: list[LoggedRequest]) -> list[str]:
    found = []
    for refused in (r for r in requests if r.status == 429):
        assert refused.retry_after is not None
        early = [
            r
            for r in requests
            if r.member == refused.member and refused.at + IN_FLIGHT < r.at < refused.at + refused.retry_after - 0.02
        ]
        if early:
            found.append(
                f"429 at {refused.at:.3f} (Retry-After {refused.retry_after}) followed by {len(early)} early request(s)"
            )
    return found


def busiest_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_500_updates_with_faults_and_rate_limit_apply_exactly_once() -> None:
    sandbox = ConnectWiseSandbox(
        seed=None, fault_rate=0.2, rate_limit=LIMIT, rate_window_seconds=WINDOW, slow_seconds=1.0, random_seed=7
    )
    company = sandbox.add_company("Fault Test Co")
    targets: dict[int, tuple[int, int]] = {}
    for _agreement in range(50):
        agreement = sandbox.add_agreement(company["id"])
        for _ in range(10):
            addition = sandbox.add_addition(agreement["id"], quantity=1)
            targets[addition["id"]] = (agreement["id"], 100 + len(targets))
    with BackgroundServer(create_app(sandbox)) as server:
        client = _client(
            server.url,
            rate_limiter=TokenBucket(LIMIT, WINDOW, burst=10),
            concurrency=8,
            timeout=0.5,
            retry=RetryPolicy(max_retries=10, backoff_base=0.05, backoff_cap=0.5),
        )
        with client, ThreadPoolExecutor(8) as pool:
            client.base_url  # noqa: B018 - the codebase lookup, outside the measured requests
            results = list(
                pool.map(lambda item: client.set_addition_quantity(item[1][0], item[0], item[1][1]), targets.items())
            )
    assert [r.quantity for r in results] == [float(q) for _, q in targets.values()]
    for addition_id, (_, quantity) in targets.items():
        assert sandbox.additions[addition_id]["quantity"] == quantity
        changes = sandbox.changes_of(addition_id)
        assert [(c.old, c.new, c.source) for c in changes] == [(1.0, float(quantity), "api")], addition_id
    requests = list(sandbox.requests)
    faults = {r.fault for r in requests if r.fault}
    assert faults == {"error", "slow", "drop"}
    assert len(requests) == client.requests_sent - 1  # every attempt but the codebase lookup is an API call
    assert busiest_window([r.at for r in requests], WINDOW) <= LIMIT * 1.05
    assert violations_of_retry_after(requests) == []


def test_every_429_is_honoured_even_by_a_client_set_too_fast() -> None:
    sandbox = ConnectWiseSandbox(seed="demo", rate_limit=20, rate_window_seconds=1.0)
    with BackgroundServer(create_app(sandbox)) as server:
        client = _client(
            server.url, rate_limiter=Unlimited(), concurrency=4, retry=RetryPolicy(max_rate_limit_waits=50)
        )
        with client, ThreadPoolExecutor(4) as pool:
            client.base_url  # noqa: B018
            found = list(pool.map(lambda _: client.get_addition(100, 1001).id, range(60)))
    assert found == [1001] * 60
    requests = list(sandbox.requests)
    refused = [r for r in requests if r.status == 429]
    assert refused, "the client was set faster than the sandbox's limit, so some requests must be refused"
    assert all(r.retry_after and r.retry_after <= 1.0 for r in refused)
    assert violations_of_retry_after(requests) == []
    assert sum(r.status == 200 for r in requests) == 60
