"""The hourly budget's exact accounting: Autotask counts every request that reaches it in the rolling hour, the
threshold reads that fail or lose their answer too, so the MSP must never pass the share however reads fail.

A rolling-hour Autotask over httpx.MockTransport with a fake clock (the client's sleeps move it on) and a seeded
sequence of failed threshold reads: deterministic, and each request counted on arrival as Autotask counts it.
"""

from __future__ import annotations

import random
from collections import deque

import httpx
import pytest

from seatsync.connectors.autotask import AutotaskClient, HourlyBudget
from seatsync.connectors.http import RetryPolicy
from seatsync.errors import RateLimited

WINDOW = 3600.0


class RollingHour:
    """Autotask's shared hourly counter: every API request that arrives counts (a 500 after it too); past the
    limit everything is refused with 429 (not counted). Threshold reads fail as ``read_fails`` says."""

    def __init__(
        self, *, limit: int, others: int, read_fails: float, other_fails: float = 0.0, seed: int, others_at: float = 0.0
    ) -> None:
        self.now = 0.0
        self.limit = limit
        self.stamps: deque[float] = deque([others_at] * others)
        self.peak = len(self.stamps)
        self.rng = random.Random(seed)
        self.read_fails = read_fails
        self.other_fails = other_fails
        self.reads: list[tuple[float, int]] = []  # (when, status) of each threshold request
        self.served = 0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def count(self) -> int:
        while self.stamps and self.stamps[0] <= self.now - WINDOW:
            self.stamps.popleft()
        return len(self.stamps)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.lower()
        if path.endswith("/zoneinformation"):  # the zone look-up is not an API request of the database
            return httpx.Response(
                200, json={"zoneName": "Test", "url": "https://webservices5.autotask.net/ATServicesRest/"}
            )
        threshold = path.endswith("/thresholdinformation")
        if self.count() >= self.limit:
            if threshold:
                self.reads.append((self.now, 429))
            return httpx.Response(429, headers={"Retry-After": "60"}, json={"errors": ["threshold exceeded"]})
        self.stamps.append(self.now)
        self.peak = max(self.peak, len(self.stamps))
        if threshold:
            failed = self.rng.random() < self.read_fails
            self.reads.append((self.now, 500 if failed else 200))
            if failed:  # counted, then the answer is lost
                return httpx.Response(500, json={"errors": ["Internal error"]})
            return httpx.Response(
                200,
                json={
                    "externalRequestThreshold": self.limit,
                    "requestThresholdTimeframe": round(WINDOW / 60),
                    "currentTimeframeRequestCount": len(self.stamps),
                },
            )
        if self.rng.random() < self.other_fails:
            return httpx.Response(500, json={"errors": ["Internal error"]})
        self.served += 1
        return httpx.Response(200, json={"item": {"id": 5, "companyName": "Acme"}})


def client_of(hour: RollingHour, budget: HourlyBudget) -> AutotaskClient:
    return AutotaskClient(
        username="api@msp.example",
        secret="s3cret",
        integration_code="CODE",
        transport=httpx.MockTransport(hour),
        budget=budget,
        sleep=hour.sleep,
        retry=RetryPolicy(max_retries=8, backoff_base=0.01, backoff_cap=0.05),
    )


def push(hour: RollingHour, budget: HourlyBudget, requests: int, *, runs: int = 40) -> int:
    """``requests`` company reads, each push that stops rate-limited started again (at most ``runs`` times)."""
    stopped = 0
    with client_of(hour, budget) as client:
        while hour.served < requests and stopped < runs:
            try:
                while hour.served < requests:
                    client.company(5)
            except RateLimited:
                stopped += 1
    return stopped


def budget_for(*, wait_seconds: float = 300, max_wait: float = 3600, hour: RollingHour) -> HourlyBudget:
    return HourlyBudget(
        0.5, check_every=10, slow_seconds=0, wait_seconds=wait_seconds, max_wait=max_wait, sleep=hour.sleep
    )


@pytest.mark.parametrize("seed", range(8))
def test_failed_threshold_reads_never_take_the_msp_past_the_share(seed: int) -> None:
    # 50 % of 200 is 100; others hold 60 of them; a wait reads every 300 s for an hour: a reserve of 13
    hour = RollingHour(limit=200, others=60, read_fails=0.5, other_fails=0.1, seed=seed)
    budget = budget_for(hour=hour)
    assert budget.reserve == 13
    push(hour, budget, 120)
    assert hour.served == 120  # the push got there, waiting for the hour to roll on
    assert budget.waited > 0 and budget.failed_reads > 0
    assert sum(1 for _, status in hour.reads if status == 500) == budget.failed_reads
    assert hour.peak <= 100, (hour.peak, budget.reads, budget.failed_reads)


def test_a_failed_read_is_not_retried_and_the_budget_waits_on() -> None:
    # others hold all the share but its reserve (87 of 100 - 13, 50 % of 200) for the whole wait; every read fails
    hour = RollingHour(limit=200, others=87, read_fails=1.0, seed=0, others_at=1.0)
    budget = budget_for(hour=hour)
    with client_of(hour, budget) as client, pytest.raises(RateLimited, match="could not read how much"):
        client.company(5)
    # one attempt a read (the first and one after each of 12 waits of 300 s): exactly the reserve, never more
    assert [status for _, status in hour.reads] == [500] * 13
    assert [when for when, _ in hour.reads] == [300.0 * n for n in range(13)]
    assert hour.served == 0 and budget.waited == 3600
    assert hour.peak == 100  # the share, to the request


def test_with_the_reserve_used_up_the_budget_waits_without_reading_until_its_reads_leave_the_window() -> None:
    # a blocked first read and failed ones after it spend the reserve of 2 (a 60 s wait); started again at once,
    # the push reads nothing until the first of those reads is an hour old
    hour = RollingHour(limit=200, others=95, read_fails=0.0, seed=0)
    budget = budget_for(wait_seconds=60, max_wait=60, hour=hour)
    assert budget.reserve == 2
    with client_of(hour, budget) as client:
        hour.read_fails = 1.0
        hour.reads.clear()
        with pytest.raises(RateLimited):
            client.company(5)
        assert len(hour.reads) == 2
        for _ in range(58):  # 58 more pushes, each waiting 60 s without a read: the reads are not an hour old
            with pytest.raises(RateLimited):
                client.company(5)
        assert len(hour.reads) == 2 and budget.waited == 59 * 60
        hour.read_fails = 0.0
        hour.stamps.clear()  # the others' requests have left the hour too
        client.company(5)  # the 60th minute: the first read has left the window; a read shows room
    assert [when for when, _ in hour.reads] == [0.0, 60.0, 3600.0]
    assert hour.served == 1
