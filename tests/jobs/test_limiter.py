"""The PostgreSQL rate limiter: the limit holds across connections (as across processes), and a 429 pauses all."""

from __future__ import annotations

import threading
import time
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


def test_two_engines_never_exceed_rate_plus_burst(pg_url: str, pg_engine: Engine) -> None:
    rate, burst, seconds = 40.0, 4.0, 1.5
    engines = [pg_engine, make_engine(pg_url)]  # two connection pools: what two worker processes would have
    stamps: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def hammer(engine: Engine) -> None:
        limiter = PostgresRateLimiter(engine, "test:shared", rate, burst=burst)
        while time.monotonic() < stop:
            limiter.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=hammer, args=(engines[i % 2],)) for i in range(6)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        engines[1].dispose()
    # across all six callers: never more than the burst plus the rate over any window (one of slack for timing)
    for window in (0.1, 0.25, 0.5, 1.0):
        assert _most_in_any_window(stamps, window) <= burst + rate * window + 1, window
    # and the limit is used, not just respected
    assert len(stamps) >= rate * seconds * 0.8


def test_pause_holds_every_caller_off(pg_engine: Engine) -> None:
    limiter = PostgresRateLimiter(pg_engine, "test:pause", 100.0, burst=10)
    other = PostgresRateLimiter(pg_engine, "test:pause", 100.0, burst=10)
    limiter.acquire()
    limiter.pause(0.4)  # a 429 with Retry-After seen by one client ...
    start = time.monotonic()
    other.acquire()  # ... makes another (another worker) wait too
    assert time.monotonic() - start >= 0.35


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
