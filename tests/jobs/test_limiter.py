"""The PostgreSQL rate limiter: the limit holds across connections (as across processes), and a 429 pauses all."""

from __future__ import annotations

import threading
from bisect import bisect_right

import pytest
from sqlalchemy import Engine

from seatsync.config import Settings
from seatsync.db.engine import make_engine
from seatsync.jobs.limiter import PostgresRateLimiter, connectwise_limiter, gradient_key, gradient_limiter

pytestmark = pytest.mark.postgres


def _most_in_any_window(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    return max(bisect_right(stamps, t + window) - i for i, t in enumerate(stamps))


class FakeClock:
    """Seconds that move only when read (a millisecond per reading), shared by every caller: the test's time."""

    def __init__(self, start: float = 1_000_000.0, step: float = 0.001) -> None:
        self.now = start
        self.step = step
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self.now += self.step
            return self.now


def test_two_engines_never_exceed_rate_plus_burst(pg_url: str, pg_engine: Engine) -> None:
    rate, burst, seconds = 40.0, 4.0, 1.5
    engines = [pg_engine, make_engine(pg_url)]  # two connection pools: what two worker processes would have
    clock = FakeClock()
    start = clock.now
    stop = start + seconds
    admitted: list[float] = []
    lock = threading.Lock()

    def hammer(engine: Engine) -> None:
        limiter = PostgresRateLimiter(engine, "test:shared", rate, burst=burst, clock=clock)
        while True:
            # the instant this caller may send: now, plus the wait its reserved slot asks for (no real sleep)
            asked = clock()
            at = asked + limiter.reserve()
            if at > stop:
                return
            with lock:
                admitted.append(at - start)

    threads = [threading.Thread(target=hammer, args=(engines[i % 2],)) for i in range(6)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        engines[1].dispose()
    # across all six callers: never more than the burst plus the rate over any window (one of slack: a caller that
    # read the clock before another may reach the row after it)
    for window in (0.1, 0.25, 0.5, 1.0):
        assert _most_in_any_window(admitted, window) <= burst + rate * window + 1, window
    # and the limit is used, not just respected
    assert len(admitted) >= burst + rate * seconds - 6


def test_pause_holds_every_caller_off(pg_engine: Engine) -> None:
    clock = FakeClock()
    limiter = PostgresRateLimiter(pg_engine, "test:pause", 100.0, burst=10, clock=clock)
    other = PostgresRateLimiter(pg_engine, "test:pause", 100.0, burst=10, clock=clock)
    assert limiter.reserve() == 0.0
    limiter.pause(0.4)  # a 429 with Retry-After seen by one client ...
    assert other.reserve() >= 0.4 - 0.01  # ... makes another (another worker) wait too


def test_keys_per_vendor_key_and_per_tenant(pg_engine: Engine) -> None:
    settings = Settings(gradient_rate_limit=100.0, connectwise_rate_limit=600)
    g = gradient_limiter(pg_engine, settings, "vendor-secret")
    assert g.key == gradient_key("vendor-secret") and "vendor-secret" not in g.key
    assert g.rate_per_second == 100.0 and g.capacity == 10.0
    a, b = connectwise_limiter(pg_engine, settings, 1), connectwise_limiter(pg_engine, settings, 2)
    assert a.key != b.key and a.rate_per_second == 10.0
    # separate buckets: draining one tenant's does not slow the other
    assert a.reserve(take=a.capacity + 5) > 0
    assert b.reserve() == 0.0
