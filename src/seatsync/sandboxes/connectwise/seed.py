"""The sandbox's demo data (``--seed demo``), as plain module-level lists so the demo and tests can reuse them.

What real instances have and the integration must cope with: a deleted company still in the recycle bin
(it looks like a duplicate in name searches), two companies with near-identical names, a name with ``&``,
cancelled and expired agreements, a cancelled addition, and the security-awareness catalog product.
"""

from __future__ import annotations

from typing import Any

from seatsync.connectors.connectwise.errors import Right

#: the product the billing integration pushes quantities to
SECURITY_AWARENESS_PRODUCT = "PHISH-SAT"

#: (identifier, name, deleted) — ids are assigned from 250 upwards in this order
DEMO_COMPANIES: list[tuple[str, str, bool]] = [
    ("AcmeCorp", "Acme Corporation", False),
    ("NorthwindTraders", "Northwind Traders", False),
    ("NorthwindTradersInc", "Northwind Traders Inc.", False),
    ("Contoso", "Contoso Ltd", False),
    ("Fabrikam", "Fabrikam Inc", False),
    ("FabrikamOld", "Fabrikam Inc", True),
    ("SmithSons", "Smith & Sons Plumbing", False),
    ("Globex", "Globex Logistics", False),
    ("Initech", "Initech", False),
    ("UmbrellaHealth", "Umbrella Health Partners", False),
    ("StarkDental", "Stark Dental Group", False),
    ("WayneProperty", "Wayne Property Management", False),
    ("BlueHarbor", "Blue Harbor Accounting", False),
    ("CedarRidgeLaw", "Cedar Ridge Law", False),
    ("SummitVet", "Summit Veterinary Clinic", False),
    ("PinecrestSchools", "Pinecrest Schools", False),
    ("RiverbendCU", "Riverbend Credit Union", False),
    ("HarborViewHotels", "Harbor View Hotels", False),
    ("MapleLeafIns", "Maple Leaf Insurance", False),
    ("RedwoodArch", "Redwood Architects", False),
    ("Silverline", "Silverline Manufacturing", False),
    ("OakwoodFP", "Oakwood Family Practice", False),
    ("Brightside", "Brightside Marketing", False),
    ("Evergreen", "Evergreen Landscaping", False),
    ("LakesideRealty", "Lakeside Realty", False),
    ("Ironclad", "Ironclad Security", False),
    ("GoldenGate", "Golden Gate Bakery", False),
    ("Keystone", "Keystone Engineering", False),
    ("Horizon", "Horizon Travel", False),
    ("Granite", "Granite Construction Co", False),
    ("Willow", "Willow Creek Dental", False),
    ("Bayside", "Bayside Medical Imaging", False),
    ("Quantum", "Quantum Analytics", False),
    ("Sterling", "Sterling & Co. Financial", False),
]

#: catalog products: (id, identifier, description, price, cost)
DEMO_CATALOG: list[tuple[int, str, str, float, float]] = [
    (901, SECURITY_AWARENESS_PRODUCT, "Security awareness training & phishing", 3.0, 1.25),
    (902, "BACKUP-M365", "Microsoft 365 backup (per user)", 2.5, 1.0),
    (903, "MSP-SEAT", "Managed services (per seat)", 45.0, 20.0),
]

#: API members: public key -> (private key, rights it lacks); every other right is granted
DEMO_MEMBERS: dict[str, tuple[str, tuple[Right, ...]]] = {
    "demo-public": ("demo-private", ()),
    "readonly-public": ("readonly-private", (Right.AGREEMENTS_EDIT, Right.ATTACHMENTS_ADD, Right.CATALOG_ADD)),
}

#: the catalog's product subcategories and types (a new catalog product names one of each, by id or name)
DEMO_SUBCATEGORIES: list[tuple[int, str]] = [(1, "Security"), (2, "Training"), (3, "Managed Services")]
DEMO_PRODUCT_TYPES: list[tuple[int, str]] = [(1, "Service"), (2, "Non-Inventory"), (3, "Subscription")]

FIRST_COMPANY_ID = 250
FIRST_AGREEMENT_ID = 100
FIRST_ADDITION_ID = 1000

#: which demo companies (by index in DEMO_COMPANIES) also carry a cancelled / an expired agreement
CANCELLED_AGREEMENT_FOR = 3  # Contoso Ltd
EXPIRED_AGREEMENT_FOR = 7  # Globex Logistics
#: the company whose agreement keeps an old, cancelled PHISH-SAT addition next to the current one
CANCELLED_ADDITION_FOR = 0  # Acme Corporation


def demo_quantity(index: int) -> int:
    """A stable, varied starting quantity for company ``index``'s security-awareness addition."""
    return 5 + (index * 7) % 60


def demo_settings() -> dict[str, Any]:
    return {"company_id": "demo", "codebase": "v2025_1/"}
