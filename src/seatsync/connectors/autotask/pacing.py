"""Pacing an Autotask tenant: 3 requests at a time per endpoint, and a share of the MSP's hourly budget.

Autotask allows 10,000 requests per rolling hour per database, shared by *every* integration the MSP runs;
at 100 % all of them are refused. ``HourlyBudget`` keeps seatsync's pushes under a chosen share of it by
reading ``ThresholdInformation`` (every ``check_every`` requests; 4 times as seldom below half of the share, 5 times
as often near it), counting its
own requests in between, slowing down past ``slow_from`` of its share and waiting — re-reading the
threshold as the hour rolls on — once the share is used. Thread-safe; one of each per tenant and process.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from seatsync.connectors.autotask.models import ThresholdInformation
from seatsync.errors import RateLimited

#: Autotask's thread limit: concurrent requests per object endpoint and integration code
ENDPOINT_CONCURRENCY = 3
_NOT_ENDPOINT = re.compile(r"^(\d+|query|count|next|entityinformation|fields|udf)$")


def endpoint_of(path: str) -> str:
    """The object endpoint a path belongs to, for the thread limit: ``/ATServicesRest/V1.0/Contracts/5/Notes``
    -> ``contracts/notes`` (ids and query suffixes dropped, case folded)."""
    lowered = path.casefold()
    marker = "/v1.0/"
    rest = lowered.split(marker, 1)[1] if marker in lowered else lowered.strip("/")
    return "/".join(part for part in rest.split("/") if part and not _NOT_ENDPOINT.match(part)) or "/"


class EndpointSlots:
    """At most ``limit`` requests in flight per endpoint."""

    def __init__(self, limit: int = ENDPOINT_CONCURRENCY) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}

    def for_path(self, path: str) -> threading.BoundedSemaphore:
        key = endpoint_of(path)
        with self._lock:
            found = self._slots.get(key)
            if found is None:
                found = self._slots[key] = threading.BoundedSemaphore(self.limit)
            return found


@dataclass(frozen=True, slots=True)
class BudgetReading:
    used: int
    limit: int
    allowed: int  # requests the share allows in the hour, less the reserve for threshold reads


class HourlyBudget:
    """Keep the MSP's rolling-hour request count (all integrations) under ``share`` of its threshold."""

    def __init__(
        self,
        share: float = 0.5,
        *,
        check_every: int = 50,
        slow_from: float = 0.8,
        slow_seconds: float = 0.5,
        wait_seconds: float = 60.0,
        max_wait: float = 3600.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError("the share of Autotask's hourly budget must be above 0 and at most 1")
        self.share = share
        self.check_every = check_every
        self.slow_from = slow_from
        self.slow_seconds = slow_seconds
        self.wait_seconds = wait_seconds
        self.max_wait = max_wait
        #: requests kept free for the threshold reads of the longest wait
        self.reserve = math.ceil(max_wait / wait_seconds) + 1 if wait_seconds > 0 else 1
        self._sleep = sleep
        self._lock = threading.Lock()
        self._reading: BudgetReading | None = None
        self._since_reading = 0
        #: admitted requests not yet answered: a reading taken meanwhile may not count them yet
        self._in_flight = 0
        #: what the last reading said, for the benchmark and the logs
        self.last: ThresholdInformation | None = None
        self.waited = 0.0

    def _estimate(self) -> int:
        assert self._reading is not None
        return self._reading.used + self._since_reading

    def _take(self, info: ThresholdInformation) -> None:
        self.last = info
        limit = info.external_request_threshold
        # the threshold reads made while waiting count too: keep room for them under the share
        self._reading = BudgetReading(
            info.current_timeframe_request_count, limit, max(0, int(limit * self.share) - self.reserve)
        )
        self._since_reading = self._in_flight

    def _due(self) -> bool:
        if self._reading is None:
            return True
        used = self._estimate() / max(1, self._reading.allowed)
        # far from the share a reading now and then is enough; near it, read often
        every = (
            self.check_every * 4 if used < 0.5 else self.check_every if used < self.slow_from else self.check_every // 5
        )
        return self._since_reading >= max(1, every)

    def before_request(self, read: Callable[[], ThresholdInformation]) -> None:
        """Block until one more request fits the share. ``read`` asks Autotask (outside this budget)."""
        with self._lock:
            if self._due():
                self._take(read())
            waited = 0.0
            assert self._reading is not None
            while self._estimate() + 1 > self._reading.allowed:
                if waited >= self.max_wait:
                    raise RateLimited(
                        f"seatsync may use {self.share:.0%} of the Autotask hourly request budget and it is used up "
                        f"({self._reading.used} of {self._reading.limit} requests this hour, all integrations); "
                        "the push stops here, try again later",
                        system="Autotask",
                        retry_after=self.wait_seconds,
                    )
                self._sleep(self.wait_seconds)
                waited += self.wait_seconds
                self.waited += self.wait_seconds
                self._take(read())
            slow = self._estimate() >= self._reading.allowed * self.slow_from
            self._since_reading += 1
            self._in_flight += 1
        if slow and self.slow_seconds > 0:
            self._sleep(self.slow_seconds)

    def after_request(self) -> None:
        """The request admitted by ``before_request`` was answered (or failed)."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def share_left(self) -> float | None:
        """The share of the whole threshold still free at the last reading (for reports)."""
        if self.last is None:
            return None
        return 1.0 - self.last.used_share
