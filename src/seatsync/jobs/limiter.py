"""A rate limiter shared by every process of the cluster: one token-bucket row per key in PostgreSQL.

Each ``acquire`` is one atomic ``UPDATE ... RETURNING`` on the bucket's row: it refills the bucket for the time
elapsed (by the database's clock, so the machines' clocks do not matter), takes one token, possibly going into
debt, and returns the balance. A negative balance is the caller's reserved slot in the future: it sleeps
``-balance / rate`` seconds and sends. So the row is locked only for the UPDATE itself (well under a
millisecond), callers never retry or spin, and across all workers the requests admitted in any window of ``t``
seconds stay within ``burst + rate * t``.

Keys: ``gradient:<hash of the vendor key>`` (Gradient counts per vendor key) and ``connectwise:tenant:<id>``
(each tenant's ConnectWise site counts per API member, i.e. per tenant).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from sqlalchemy import Engine, text

from seatsync.config import Settings

_TAKE = text(
    """
    WITH now AS (SELECT COALESCE(to_timestamp(CAST(:now AS double precision)), clock_timestamp()) AS t)
    UPDATE seatsync_rate_buckets b
       SET tokens = LEAST(:capacity, b.tokens + EXTRACT(EPOCH FROM (now.t - b.updated_at)) * :rate) - :take,
           updated_at = now.t
      FROM now
     WHERE b.key = :key
    RETURNING b.tokens
    """
)
_CREATE = text(
    "INSERT INTO seatsync_rate_buckets (key, tokens, updated_at) "
    "VALUES (:key, :capacity, COALESCE(to_timestamp(CAST(:now AS double precision)), clock_timestamp())) "
    "ON CONFLICT (key) DO NOTHING"
)
_PAUSE = text(
    """
    WITH now AS (SELECT COALESCE(to_timestamp(CAST(:now AS double precision)), clock_timestamp()) AS t)
    UPDATE seatsync_rate_buckets b
       SET tokens = LEAST(0, LEAST(:capacity, b.tokens + EXTRACT(EPOCH FROM (now.t - b.updated_at)) * :rate))
                    - :seconds * :rate,
           updated_at = now.t
      FROM now
     WHERE b.key = :key
    """
)


class PostgresRateLimiter:
    """``rate`` requests per ``per`` seconds for ``key``, across every process using the same database.

    Implements ``seatsync.connectors.limits.RateLimiter`` (and ``pause``, which the connectors call on a 429).
    """

    def __init__(
        self,
        engine: Engine,
        key: str,
        rate: float,
        per: float = 1.0,
        *,
        burst: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if rate <= 0 or per <= 0:
            raise ValueError("rate and period must be positive")
        self.engine = engine
        self.key = key
        self.rate_per_second = rate / per
        self.capacity = burst if burst is not None else max(1.0, self.rate_per_second)
        self._sleep = sleep
        #: seconds since the epoch; ``None``: the database's own clock (production: one clock for every machine)
        self._clock = clock
        self._created = False

    def _params(self) -> dict[str, object]:
        now = self._clock() if self._clock is not None else None
        return {"key": self.key, "capacity": self.capacity, "rate": self.rate_per_second, "now": now}

    def reserve(self, take: float = 1.0) -> float:
        """Take ``take`` tokens now; how long the caller must wait before using them."""
        with self.engine.connect() as conn:
            if not self._created:
                conn.execute(_CREATE, self._params())
                self._created = True
            balance = conn.execute(_TAKE, {**self._params(), "take": take}).scalar_one()
            conn.commit()
        return 0.0 if balance >= 0 else -float(balance) / self.rate_per_second

    def acquire(self) -> None:
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)

    def pause(self, seconds: float) -> None:
        """The server answered 429 with Retry-After: nobody in the cluster sends on this key for ``seconds``."""
        with self.engine.connect() as conn:
            conn.execute(_PAUSE, {**self._params(), "seconds": seconds})
            conn.commit()


def gradient_key(vendor_key: str) -> str:
    # the key itself must never reach the database in clear
    return "gradient:" + hashlib.sha256(vendor_key.encode()).hexdigest()[:16]


def gradient_limiter(engine: Engine, settings: Settings, vendor_key: str) -> PostgresRateLimiter:
    """Gradient's limit, per vendor key; the burst is a tenth of a second's worth (as the in-process limiter)."""
    rate = settings.gradient_rate_limit
    return PostgresRateLimiter(engine, gradient_key(vendor_key), rate, burst=max(1.0, rate / 10))


def connectwise_limiter(engine: Engine, settings: Settings, tenant_id: int) -> PostgresRateLimiter:
    return PostgresRateLimiter(engine, f"connectwise:tenant:{tenant_id}", settings.connectwise_rate_limit, 60.0)
