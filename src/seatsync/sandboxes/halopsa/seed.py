"""The HaloPSA sandbox's demo data (``--seed demo``): the ConnectWise demo's companies as Halo clients.

Most clients have one subscription (software licence) for security awareness, a few have none (the mapper's
"Create subscription" has something to do) and one has two (training and phishing on separate items), as the
ConnectWise demo has an agreement with two additions. The deleted ConnectWise company is an inactive client.
"""

from __future__ import annotations

from seatsync.sandboxes.connectwise.seed import DEMO_COMPANIES, demo_quantity

__all__ = [
    "DEMO_APPLICATIONS",
    "DEMO_COMPANIES",
    "DEMO_ITEMS",
    "FIRST_CLIENT_ID",
    "FIRST_LICENCE_ID",
    "FULL_AGENT",
    "NO_SUBSCRIPTION",
    "READ_ONLY_SCOPES",
    "TWO_SUBSCRIPTIONS",
    "demo_quantity",
]

FIRST_CLIENT_ID = 40
FIRST_LICENCE_ID = 800

#: items (products): (id, name, recurring price)
DEMO_ITEMS: list[tuple[int, str, float]] = [
    (11, "Security Awareness Training (per user)", 3.0),
    (12, "Phishing Simulation (per user)", 1.5),
    (13, "Microsoft 365 Business Premium", 22.0),
]
TRAINING_ITEM, PHISHING_ITEM = 11, 12

#: ConnectWise demo identifiers whose Halo client has no subscription yet / has two
NO_SUBSCRIPTION = ("SmithSons", "WayneProperty", "GoldenGate")
TWO_SUBSCRIPTIONS = "NorthwindTraders"

#: the login agent's access levels per area: "none", "read" or "modify"
FULL_AGENT = {"customers": "modify", "items": "modify", "softwarelicensing": "modify"}
READ_ONLY_SCOPES = "read:customers read:items read:softwarelicensing"

#: API applications: client id -> (secret, scopes, agent access levels)
DEMO_APPLICATIONS: dict[str, tuple[str, str, dict[str, str]]] = {
    "demo-client": ("demo-secret", "all", FULL_AGENT),
    "readonly-client": ("readonly-secret", READ_ONLY_SCOPES, FULL_AGENT),
}
