"""The ConnectWise Manage connector: ``ConnectWiseClient`` and what it returns."""

from seatsync.connectors.connectwise.client import API_VERSION, ConnectWiseClient, site_origin
from seatsync.connectors.connectwise.conditions import Condition, all_of, quote, where
from seatsync.connectors.connectwise.errors import Right
from seatsync.connectors.connectwise.models import (
    Addition,
    Agreement,
    CatalogItem,
    Company,
    CompanyInfo,
    DocumentInfo,
    SystemInfo,
)

__all__ = [
    "API_VERSION",
    "Addition",
    "Agreement",
    "CatalogItem",
    "Company",
    "CompanyInfo",
    "Condition",
    "ConnectWiseClient",
    "DocumentInfo",
    "Right",
    "SystemInfo",
    "all_of",
    "quote",
    "site_origin",
    "where",
]
