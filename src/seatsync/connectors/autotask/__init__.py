"""The Autotask PSA connector: ``AutotaskClient``, its filters, pacing and what it returns."""

from seatsync.connectors.autotask.client import DEFAULT_ZONE_URL, AutotaskClient, zone_origin
from seatsync.connectors.autotask.errors import SYSTEM, Permission
from seatsync.connectors.autotask.filters import EVERYTHING, Filter, all_of, any_of, eq, where
from seatsync.connectors.autotask.models import (
    ACTIVE,
    RECURRING_SERVICE,
    Company,
    Contract,
    ContractNote,
    ContractService,
    ContractServiceUnit,
    NoteAttachment,
    Service,
    ThresholdInformation,
    ZoneInformation,
)
from seatsync.connectors.autotask.pacing import ENDPOINT_CONCURRENCY, EndpointSlots, HourlyBudget, endpoint_of
from seatsync.connectors.autotask.pagination import PAGE_SIZE, QueryPage

__all__ = [
    "ACTIVE",
    "DEFAULT_ZONE_URL",
    "ENDPOINT_CONCURRENCY",
    "EVERYTHING",
    "PAGE_SIZE",
    "RECURRING_SERVICE",
    "SYSTEM",
    "AutotaskClient",
    "Company",
    "Contract",
    "ContractNote",
    "ContractService",
    "ContractServiceUnit",
    "EndpointSlots",
    "Filter",
    "HourlyBudget",
    "NoteAttachment",
    "Permission",
    "QueryPage",
    "Service",
    "ThresholdInformation",
    "ZoneInformation",
    "all_of",
    "any_of",
    "endpoint_of",
    "eq",
    "where",
    "zone_origin",
]
