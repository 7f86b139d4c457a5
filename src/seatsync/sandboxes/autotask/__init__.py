"""A faithful Autotask PSA simulator: ``AutotaskSandbox`` (state) served by ``create_app``.

sandbox = AutotaskSandbox(seed="demo")
with BackgroundServer(create_app(sandbox)) as server:
    client = AutotaskClient(username="demo-api@example.com", secret="demo-secret",
                            integration_code="DEMOINTEGRATIONCODE0000000000", zone_url=server.url)
"""

from seatsync.sandboxes.autotask.app import AutotaskApp, create_app
from seatsync.sandboxes.autotask.seed import (
    DEMO_INTEGRATION_CODE,
    DEMO_USERS,
    PHISHING_SERVICE,
    SECURITY_AWARENESS_SERVICE,
)
from seatsync.sandboxes.autotask.state import AutotaskSandbox, Refusal

__all__ = [
    "DEMO_INTEGRATION_CODE",
    "DEMO_USERS",
    "PHISHING_SERVICE",
    "SECURITY_AWARENESS_SERVICE",
    "AutotaskApp",
    "AutotaskSandbox",
    "Refusal",
    "create_app",
]
