"""The JSON API under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from seatsync.web.api.routes import (
    auth,
    automation,
    autotask,
    billable,
    catalog,
    companies,
    connectwise,
    gradient,
    halopsa,
    mapper,
    mappings,
    notifications,
    pushes,
    tickets,
    tokens,
    users,
)

router = APIRouter(prefix="/api/v1")
for module in (
    auth,
    tokens,
    companies,
    users,
    billable,
    connectwise,
    catalog,
    autotask,
    gradient,
    halopsa,
    mappings,
    mapper,
    pushes,
    notifications,
    tickets,
    automation,
):
    router.include_router(module.router)
router.include_router(mappings.automap_router)
