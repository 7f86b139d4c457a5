"""The Autotask sandbox's demo data (``--seed demo``): the ConnectWise demo's companies, as Autotask has them.

Most companies have an active recurring-service contract (contractType 7) with a Security Awareness Training
contract service; a few have none; Acme Corporation's contract has two services (training and phishing, as the
ConnectWise demo's agreement has two additions); Contoso has an old, inactive recurring-service contract too,
and Globex a time-and-materials contract (not billable by units). The deleted ConnectWise twin is inactive here.
"""

from __future__ import annotations

from dataclasses import dataclass

from seatsync.connectors.autotask.errors import Permission
from seatsync.sandboxes.connectwise.seed import DEMO_COMPANIES, demo_quantity

DEMO_INTEGRATION_CODE = "DEMOINTEGRATIONCODE0000000000"


@dataclass(frozen=True, slots=True)
class DemoUser:
    username: str
    secret: str
    lacking: tuple[Permission, ...]
    resource_id: int


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("demo-api@example.com", "demo-secret", (), 29682885),
    DemoUser(
        "readonly-api@example.com",
        "readonly-secret",
        (Permission.CONTRACT_SERVICES_ADJUST, Permission.CONTRACT_NOTES_ADD),
        29682886,
    ),
)

#: the catalog services (id, name, unit price)
SECURITY_AWARENESS_SERVICE = 31
PHISHING_SERVICE = 32
DEMO_SERVICES: tuple[tuple[int, str, float], ...] = (
    (SECURITY_AWARENESS_SERVICE, "Security Awareness Training (per user)", 3.0),
    (PHISHING_SERVICE, "Phishing Simulation (per user)", 1.5),
    (33, "Microsoft 365 Backup (per user)", 2.5),
)

FIRST_COMPANY_ID = 29683000
FIRST_CONTRACT_ID = 29684000
CONTRACT_START = "2025-01-01"
CONTRACT_END = "2027-12-31"
#: companies (by index in DEMO_COMPANIES) without any contract: the mapper has nothing to offer them
WITHOUT_CONTRACT = frozenset({9, 19, 29})  # Umbrella Health, Redwood Architects, Granite Construction
TWO_SERVICES_FOR = 0  # Acme Corporation
INACTIVE_CONTRACT_FOR = 3  # Contoso Ltd
TIME_AND_MATERIALS_FOR = 7  # Globex Logistics

__all__ = [
    "CONTRACT_END",
    "CONTRACT_START",
    "DEMO_COMPANIES",
    "DEMO_INTEGRATION_CODE",
    "DEMO_SERVICES",
    "DEMO_USERS",
    "FIRST_COMPANY_ID",
    "FIRST_CONTRACT_ID",
    "INACTIVE_CONTRACT_FOR",
    "PHISHING_SERVICE",
    "SECURITY_AWARENESS_SERVICE",
    "TIME_AND_MATERIALS_FOR",
    "TWO_SERVICES_FOR",
    "WITHOUT_CONTRACT",
    "DemoUser",
    "demo_quantity",
]
