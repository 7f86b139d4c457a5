"""Acceptance 3: with faults and a rate limit, every update lands exactly once and every 429 is honoured.

The sandbox's rate window is shrunk (600 requests per 5 s instead of per minute) and so are its slow
answers and the client's timeout, so the test takes seconds; the proportions are ConnectWise's. Pacing and
Retry-After are judged on what the client did, by its own clock (``Timeline``: its transport and its sleeps), not
on when requests reached the sandbox: on a loaded machine the server's arrival times bunch up requests the client
sent apart.
"""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from seatsync.connectors.connectwise import ConnectWiseClient
from seatsync.connectors.http import RetryPolicy
from seatsync.connectors.limits import TokenBucket, Unlimited
from seatsync.sandboxes.connectwise import ConnectWiseSandbox, create_app
from seatsync.sandboxes.server import BackgroundServer

WINDOW = 5.0
LIMIT = 600


def _client(url: str, **options: object) -> ConnectWiseClient:
    return ConnectWiseClient(
        site=url,
        company_id="demo",
        public_key="demo-public",
        private_key="demo-private",
        client_id="fault-test",
        **options,  # type: ignore[arg-type]
    )


def busiest_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # "send", "answer" or "sleep", as the client under test did it
    thread: int
    at: float  # time.monotonic() in the client
    status: int | None = None
    retry_after: float | None = None


class Timeline(httpx.BaseTransport):
    """The client's own send and answer times (its transport) and its sleeps, per thread: load can only
    stretch them, never make an honoured Retry-After look early."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def _add(self, kind: str, status: int | None = None, retry_after: float | None = None) -> None:
        with self._lock:
            self.events.append(Event(kind, threading.get_ident(), time.monotonic(), status, retry_after))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._add("send")
        try:
            response = self.inner.handle_request(request)
        except httpx.TransportError:
            self._add("answer")  # none came (dropped, timed out): the attempt is over all the same
            raise
        after = response.headers.get("Retry-After")
        self._add("answer", status=response.status_code, retry_after=float(after) if after else None)
        return response

    def sleep(self, seconds: float) -> None:
        self._add("sleep")
        time.sleep(seconds)

    def close(self) -> None:
        self.inner.close()


def early_sends(events: list[Event]) -> list[str]:
    """Sends the client made before a 429's Retry-After was over, on the client's clock. The thread that got the
    429 may send nothing until Retry-After after the answer; another thread, nothing once it has begun a request
    after the 429's thread started holding off (a request it had begun before may still go out: it is in flight)."""
    found = []
    for refused in (e for e in events if e.kind == "answer" and e.status == 429):
        assert refused.retry_after is not None
        until = refused.at + refused.retry_after - 1e-3
        # the 429's thread starts holding off at its first sleep after it (none: it never held off at all)
        held = next(
            (e.at for e in events if e.kind == "sleep" and e.thread == refused.thread and e.at >= refused.at), math.inf
        )
        for index, send in enumerate(events):
            if send.kind != "send" or not refused.at < send.at < until:
                continue
            previous = next(
                (e for e in reversed(events[:index]) if e.thread == send.thread and e.kind == "answer"), None
            )
            if send.thread == refused.thread or (previous is not None and previous.at > held):
                found.append(
                    f"429 answered at {refused.at:.3f} (Retry-After {refused.retry_after}), sent at {send.at:.3f}"
                )
    return found


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
    timeline = Timeline()
    with BackgroundServer(create_app(sandbox)) as server:
        client = _client(
            server.url,
            # the limiter's waits are the client's sleeps too: holding off after a 429 is one of them
            rate_limiter=TokenBucket(LIMIT, WINDOW, burst=10, sleep=timeline.sleep),
            concurrency=8,
            timeout=0.5,
            retry=RetryPolicy(max_retries=10, backoff_base=0.05, backoff_cap=0.5),
            transport=timeline,
            sleep=timeline.sleep,
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
    sends = [e.at for e in timeline.events if e.kind == "send"]
    assert len(sends) == client.requests_sent
    assert busiest_window(sends, WINDOW) <= LIMIT * 1.05
    assert early_sends(timeline.events) == []


def test_every_429_is_honoured_even_by_a_client_set_too_fast() -> None:
    sandbox = ConnectWiseSandbox(seed="demo", rate_limit=20, rate_window_seconds=1.0)
    timeline = Timeline()
    with BackgroundServer(create_app(sandbox)) as server:
        client = _client(
            server.url,
            rate_limiter=Unlimited(),
            concurrency=4,
            retry=RetryPolicy(max_rate_limit_waits=50),
            transport=timeline,
            sleep=timeline.sleep,
        )
        with client, ThreadPoolExecutor(4) as pool:
            client.base_url  # noqa: B018
            found = list(pool.map(lambda _: client.get_addition(100, 1001).id, range(60)))
    assert found == [1001] * 60
    refused = [e for e in timeline.events if e.kind == "answer" and e.status == 429]
    assert refused, "the client was set faster than the sandbox's limit, so some requests must be refused"
    assert all(e.retry_after and e.retry_after <= 1.0 for e in refused)
    assert early_sends(timeline.events) == []
    assert sum(e.kind == "answer" and e.status == 200 for e in timeline.events) == 60 + 1  # and the codebase
