"""A HaloPSA simulator faithful to ``reference/halopsa.md``: ``create_app(HaloPSASandbox(seed="demo"))``."""

from seatsync.sandboxes.halopsa.app import HaloPSAApp, create_app, rate_limit_per_window
from seatsync.sandboxes.halopsa.seed import DEMO_APPLICATIONS, READ_ONLY_SCOPES
from seatsync.sandboxes.halopsa.state import HaloError, HaloPSASandbox

__all__ = [
    "DEMO_APPLICATIONS",
    "READ_ONLY_SCOPES",
    "HaloError",
    "HaloPSAApp",
    "HaloPSASandbox",
    "create_app",
    "rate_limit_per_window",
]
