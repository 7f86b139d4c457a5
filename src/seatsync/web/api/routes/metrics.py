"""``GET /metrics``: Prometheus text format.

This process's own counters (job durations, push outcomes, PSA requests and 429s of the pushes it ran) and, read
from the database at each scrape, the whole cluster's queue depth by task and status and the push runs by status.
Workers expose their own counters with ``seatsync worker --metrics-port``. Nothing here names a tenant.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from seatsync.jobs.observe import database_registry

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    engine = request.app.state.seatsync.engine
    body = generate_latest(REGISTRY) + generate_latest(database_registry(engine))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
