"""A faithful ConnectWise Manage simulator: ``ConnectWiseSandbox`` (state) served by ``create_app``.

sandbox = ConnectWiseSandbox(seed="demo")
with BackgroundServer(create_app(sandbox)) as server:
    client = ConnectWiseClient(site=server.url, company_id="demo", public_key="demo-public",
                               private_key="demo-private", client_id="any-guid")
"""

from seatsync.sandboxes.connectwise.app import ConnectWiseApp, create_app
from seatsync.sandboxes.connectwise.seed import DEMO_CATALOG, DEMO_COMPANIES, DEMO_MEMBERS, SECURITY_AWARENESS_PRODUCT
from seatsync.sandboxes.connectwise.state import ConnectWiseSandbox

__all__ = [
    "DEMO_CATALOG",
    "DEMO_COMPANIES",
    "DEMO_MEMBERS",
    "SECURITY_AWARENESS_PRODUCT",
    "ConnectWiseApp",
    "ConnectWiseSandbox",
    "create_app",
]
