"""The HaloPSA connector: ``HaloPSAClient`` and what it returns."""

from seatsync.connectors.halopsa.client import (
    DEFAULT_BUDGET,
    HOSTED_LIMIT,
    HOSTED_WINDOW,
    RETRY,
    HaloPSAClient,
    base_url,
    default_auth_url,
    licence_update,
    rolling_window_limiter,
)
from seatsync.connectors.halopsa.errors import RATE_LIMIT_MESSAGE, SYSTEM, Permission
from seatsync.connectors.halopsa.models import Customer, Item, NewLicence, SoftwareLicence, Token
from seatsync.connectors.halopsa.pagination import LIST_KEYS, MAX_PAGE_SIZE, Page, Paging

__all__ = [
    "DEFAULT_BUDGET",
    "HOSTED_LIMIT",
    "HOSTED_WINDOW",
    "LIST_KEYS",
    "MAX_PAGE_SIZE",
    "RATE_LIMIT_MESSAGE",
    "RETRY",
    "SYSTEM",
    "Customer",
    "HaloPSAClient",
    "Item",
    "NewLicence",
    "Page",
    "Paging",
    "Permission",
    "SoftwareLicence",
    "Token",
    "base_url",
    "default_auth_url",
    "licence_update",
    "rolling_window_limiter",
]
