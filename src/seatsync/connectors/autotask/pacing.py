"""Pacing an Autotask tenant: 3 requests at a time per endpoint, and a share of the MSP's hourly budget.

Autotask allows 10,000 requests per rolling hour per database, shared by *every* integration the MSP runs;
at 100 % all of them are refused. ``HourlyBudget`` keeps seatsync's pushes under a chosen share of it by
reading ``ThresholdInformation`` (every ``check_every`` requests; 4 times as seldom below half of the share, 5 times
as often near it), counting its
own requests in between, slowing down past ``slow_from`` of its share and waiting — re-reading the
threshold as the hour rolls on — once the share is used. The reads count at Autotask too: a reserve under the
share is kept for them, and they are never retried (see ``HourlyBudget`` for the accounting). Thread-safe; one
of each per tenant and process.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from seatsync.connectors.autotask.models import ThresholdInformation
from seatsync.errors import RateLimited, RetriableError

log = logging.getLogger(__name__)

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
    """Keep the MSP's rolling-hour request count (all integrations) under ``share`` of its threshold.

    The reads of ``ThresholdInformation`` count at Autotask too, and a read that shows no room for one more
    request (the share is used, the budget waits) or that fails adds to the count unseen. Room is kept for them:
    the share less a ``reserve`` of ``ceil(max_wait / wait_seconds) + 1`` requests, the reads of the longest wait.
    The accounting that keeps the MSP under the share exactly:

    - ``read`` must send one request, never retried (each attempt would count at Autotask): a failed or lost
      read is one request of the reserve spent, and the last reading stands: while waiting the share is taken
      as still used (the budget waits on and reads again after ``wait_seconds``; without any reading there is no
      room); otherwise the last reading plus every request since still counts seatsync's own, and the next
      check is a check interval later.
    - The reserve is spent by every read since the last reading that showed room for the next request: that
      reading counted every earlier read, so it refills the reserve. Requests are only admitted while the last
      reading, plus every request admitted since, leaves room; so Autotask's count is at most the share less the
      reserve, plus the reads of the reserve (other integrations' requests are theirs: when they alone fill the
      share, a wait's reads still add at most the reserve).
    - With the reserve used up (waits that failed to read, a push stopped after ``max_wait`` and started again)
      the budget reads nothing: it waits, without reading, until its oldest reads have left Autotask's rolling
      window (``requestThresholdTimeframe``; the window is measured by the budget's own waits, never a clock, so
      it is never shorter than the real time), or ``max_wait`` is over and it raises ``RateLimited``.
    """

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
        if wait_seconds <= 0:
            raise ValueError("the wait between threshold readings must be above 0 seconds")
        self.share = share
        self.check_every = check_every
        self.slow_from = slow_from
        self.slow_seconds = slow_seconds
        self.wait_seconds = wait_seconds
        self.max_wait = max_wait
        #: requests kept free for the threshold reads of the longest wait (the first read and one a wait)
        self.reserve = math.ceil(max_wait / wait_seconds) + 1
        self._sleep = sleep
        self._lock = threading.Lock()
        self._reading: BudgetReading | None = None
        self._since_reading = 0
        #: requests admitted since the last read was tried (a failed one too): when the next one is due
        self._since_read = 0
        #: admitted requests not yet answered: a reading taken meanwhile may not count them yet
        self._in_flight = 0
        #: the reads of the reserve spent, each as ``waited`` when it was sent (to tell when it left the window)
        self._spent: deque[float] = deque()
        #: the rolling window in seconds, from the last reading (Autotask's hour until one is read)
        self._window = 3600.0
        #: what the last reading said, for the benchmark and the logs
        self.last: ThresholdInformation | None = None
        #: seconds waited for the share in all (the budget's own clock for its reads' ages)
        self.waited = 0.0
        #: threshold reads sent, and those of them that failed
        self.reads = 0
        self.failed_reads = 0

    def _estimate(self) -> int:
        assert self._reading is not None
        return self._reading.used + self._since_reading

    def _room(self) -> bool:
        """Whether one more request fits: never without a reading (a first read that failed is no room)."""
        return self._reading is not None and self._estimate() + 1 <= self._reading.allowed

    def _take(self, info: ThresholdInformation) -> None:
        self.last = info
        limit = info.external_request_threshold
        if info.request_threshold_timeframe > 0:
            self._window = info.request_threshold_timeframe * 60.0
        # the threshold reads count too: keep room for them under the share
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
        return self._since_read >= max(1, every)

    def _read(self, read: Callable[[], ThresholdInformation]) -> None:
        """One read of the threshold, if the reserve has a request left; a failed one leaves the last reading."""
        # a read sent a whole window of waiting ago is no longer in Autotask's count: its request is free again
        while self._spent and self.waited - self._spent[0] >= self._window:
            self._spent.popleft()
        if len(self._spent) >= self.reserve:
            log.info("Autotask hourly budget: the reserve for threshold reads is used up; waiting without reading")
            return
        self._spent.append(self.waited)
        self._since_read = 0
        self.reads += 1
        try:
            info = read()
        except RetriableError as exc:
            # it may have reached Autotask (and counts there): its reserve request stays spent
            self.failed_reads += 1
            log.info("Autotask threshold read failed (%s); the last reading stands", exc)
            return
        self._take(info)
        if self._room():
            self._spent.clear()  # this reading counted every earlier read

    def _used_up(self) -> RateLimited:
        if self._reading is None:
            said = "seatsync could not read how much of it is used (ThresholdInformation failed)"
        else:
            said = f"it is used up ({self._reading.used} of {self._reading.limit} requests this hour, all integrations)"
        return RateLimited(
            f"seatsync may use {self.share:.0%} of the Autotask hourly request budget and {said}; "
            "the push stops here, try again later",
            system="Autotask",
            retry_after=self.wait_seconds,
        )

    def before_request(self, read: Callable[[], ThresholdInformation]) -> None:
        """Block until one more request fits the share. ``read`` asks Autotask once, never retried (outside this
        budget: it counts against the reserve); it may raise ``RetriableError``, any other error is raised."""
        with self._lock:
            if self._due():
                self._read(read)
            waited = 0.0
            while not self._room():
                if waited >= self.max_wait:
                    raise self._used_up()
                self._sleep(self.wait_seconds)
                waited += self.wait_seconds
                self.waited += self.wait_seconds
                self._read(read)
            assert self._reading is not None  # there is room: there is a reading
            slow = self._estimate() >= self._reading.allowed * self.slow_from
            self._since_reading += 1
            self._since_read += 1
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
