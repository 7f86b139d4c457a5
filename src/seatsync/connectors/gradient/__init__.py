"""Client of Gradient MSP's Synthesize vendor API."""

from seatsync.connectors.gradient.client import DEFAULT_URL, GradientClient, raise_for_response, shared_limiter
from seatsync.connectors.gradient.errors import AccountsAlreadyExist, NotMappedInGradient
from seatsync.connectors.gradient.models import Account, GradientStatus, NewAccount, Organization, Service, Vendor

__all__ = [
    "DEFAULT_URL",
    "Account",
    "AccountsAlreadyExist",
    "GradientClient",
    "GradientStatus",
    "NewAccount",
    "NotMappedInGradient",
    "Organization",
    "Service",
    "Vendor",
    "raise_for_response",
    "shared_limiter",
]
