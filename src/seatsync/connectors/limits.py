"""Request pacing shared by the connectors: a token-bucket rate limiter (retries: ``connectors.http``). Thread-safe."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class RateLimiter(Protocol):
    def acquire(self) -> None:
        """Block until one more request may be sent."""


class TokenBucket:
    """``rate`` requests per ``per`` seconds, with bursts of at most ``burst`` (default: 1 second's worth)."""

    def __init__(
        self,
        rate: float,
        per: float = 1.0,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or per <= 0:
            raise ValueError("rate and period must be positive")
        self.rate_per_second = rate / per
        self.capacity = burst if burst is not None else max(1.0, self.rate_per_second)
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def _reserve(self) -> float:
        """Take one token (possibly going into debt); return how long the caller must wait."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate_per_second)
            self._updated = now
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate_per_second

    def acquire(self) -> None:
        wait = self._reserve()
        if wait > 0:
            self._sleep(wait)

    def pause(self, seconds: float) -> None:
        """The server said slow down (429 Retry-After): nobody sends for ``seconds``."""
        with self._lock:
            self._tokens = min(self._tokens, 0.0) - seconds * self.rate_per_second


class Unlimited:
    def acquire(self) -> None:
        return None
