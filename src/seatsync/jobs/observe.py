"""Metrics (Prometheus) and structured logs (JSON lines) for jobs, pushes and the PSA connectors.

Each process counts what it does itself (job durations, push outcomes, PSA requests and 429s) in the default
registry: the web app serves it at ``/metrics``, a worker with ``--metrics-port``. What lives in the database
(the queue by status, runs by status) is read at scrape time by ``DatabaseCollector``, so any one scrape of the
web app shows the whole cluster's queue.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from seatsync.db.engine import is_postgres

JOB_DURATION = Histogram(
    "seatsync_job_duration_seconds",
    "Wall time of jobs run by this process, by task and outcome.",
    ["task", "outcome"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
PUSH_OUTCOMES = Counter(
    "seatsync_push_company_outcomes_total",
    "Per-company outcomes of the pushes run by this process, by target and outcome.",
    ["target", "outcome"],
)
PUSH_RUNS = Counter(
    "seatsync_push_runs_total", "Push runs finished by this process, by target and status.", ["target", "status"]
)
PSA_REQUESTS = Counter(
    "seatsync_psa_requests_total",
    "HTTP requests sent to ConnectWise and Gradient, by system and status.",
    ["system", "status"],
)
PSA_RATE_LIMITED = Counter(
    "seatsync_psa_rate_limited_total",
    "Answers 429 (too many requests) from ConnectWise and Gradient, by system.",
    ["system"],
)


class MeteredTransport(httpx.BaseTransport):
    """Counts every request and every 429 of one system; wraps the real transport (close it through the client)."""

    def __init__(self, system: str, inner: httpx.BaseTransport | None = None) -> None:
        self.system = system
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = self.inner.handle_request(request)
        except httpx.TransportError:
            PSA_REQUESTS.labels(self.system, "error").inc()
            raise
        PSA_REQUESTS.labels(self.system, str(response.status_code)).inc()
        if response.status_code == 429:
            PSA_RATE_LIMITED.labels(self.system).inc()
        return response

    def close(self) -> None:
        self.inner.close()


class DatabaseCollector(Collector):
    """The queue depth (``procrastinate_jobs`` by status and task) and the push runs by target and status."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        runs = GaugeMetricFamily(
            "seatsync_push_runs", "Push runs in the database, by target and status.", labels=["target", "status"]
        )
        queue = GaugeMetricFamily(
            "seatsync_jobs", "Jobs in the queue (procrastinate_jobs), by task and status.", labels=["task", "status"]
        )
        try:
            with self.engine.connect() as conn:
                for target, status, n in conn.execute(
                    text("SELECT target, status, count(*) FROM push_runs GROUP BY target, status")
                ):
                    runs.add_metric([target, status], n)
                if is_postgres(self.engine):
                    for task, status, n in conn.execute(
                        text("SELECT task_name, status::text, count(*) FROM procrastinate_jobs GROUP BY 1, 2")
                    ):
                        queue.add_metric([task, status], n)
        except SQLAlchemyError:
            logging.getLogger(__name__).warning("metrics: the database could not be read", exc_info=True)
        yield runs
        yield queue


def database_registry(engine: Engine) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(engine))
    return registry


# -- structured logs ----------------------------------------------------------------------------------------

#: the tenant and run (or job) a log line is about, per thread; set by the job code around each job
_thread_context = threading.local()


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, plus tenant_id / run_id / job_id when known."""

    FIELDS = ("tenant_id", "run_id", "job_id", "target", "period", "task")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = getattr(_thread_context, "values", None) or {}
        entry.update({k: v for k, v in context.items() if v is not None})
        for name in self.FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class bound:
    """``with bound(tenant_id=3, job_id=7): ...``: every log line of this thread inside carries these fields."""

    def __init__(self, **values: Any) -> None:
        self.values = values
        self._saved: dict[str, Any] | None = None

    def __enter__(self) -> bound:
        self._saved = getattr(_thread_context, "values", None)
        _thread_context.values = {**(self._saved or {}), **self.values}
        return self

    def __exit__(self, *_exc: object) -> None:
        _thread_context.values = self._saved

    def update(self, **values: Any) -> None:
        self.values.update(values)
        _thread_context.values = {**(getattr(_thread_context, "values", None) or {}), **values}


def configure_logging(log_format: str | None, *, level: int = logging.INFO) -> None:
    """``SEATSYNC_LOG_FORMAT=json``: JSON lines on stderr; anything else: the plain text format."""
    handler = logging.StreamHandler(sys.stderr)
    if (log_format or "").lower() == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
