"""The Gradient sandbox's world: vendors (with their services) and partner organizations (MSPs).

Everything the HTTP app does is a method here, so tests and the demo can also drive it directly. Thread-safe:
the app runs on the server's event loop while tests read the state from their own thread.
"""

from __future__ import annotations

import base64
import binascii
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from seatsync.db.types import utcnow

STATUSES = ("pending", "active", "inactive", "disabled", "error")
CATEGORIES = ("security", "backup", "productivity", "infrastructure", "service delivery", "consulting", "other")

DEMO_VENDOR_KEY = "demo-vendor"
DEMO_PARTNER_TOKEN = "demo-partner"  # noqa: S105 (a public demo value)
#: the demo MSP's PSA side: companies and products an account or service of the same exact name maps to
DEMO_PSA_COMPANIES = ("Acme Corporation", "Globex Industries", "Initech", "Umbrella Health", "Stark Logistics")
DEMO_PSA_PRODUCTS = ("Security Awareness Training", "Phishing Simulation")


class SandboxError(Exception):
    """An answer other than success: ``{"statusCode": status, "message": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _new_id() -> str:
    return uuid.uuid4().hex[:24]  # the shape of a MongoDB ObjectId, as Gradient's ids are


@dataclass
class ServiceRecord:
    id: str
    name: str
    description: str
    category: str
    subcategory: str

    def as_json(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "category": self.category,
            "subcategory": self.subcategory,
        }


@dataclass
class VendorRecord:
    key: str
    id: str
    name: str
    services: dict[str, ServiceRecord] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "id": self.id,
            "name": self.name,
            "skus": [s.as_json() for s in self.services.values()],
        }


@dataclass
class AccountRecord:
    id: str
    name: str
    description: str


@dataclass(frozen=True)
class UnitCountRecord:
    service_id: str
    account_id: str
    unit_count: float | int
    no_build: bool
    at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "serviceId": self.service_id,
            "accountId": self.account_id,
            "unitCount": self.unit_count,
            "noBuild": self.no_build,
            "at": self.at.isoformat(),
        }


@dataclass
class OrganizationRecord:
    """One MSP's integration with one vendor (one partner token)."""

    vendor: VendorRecord
    partner_token: str
    id: str
    name: str
    integration_id: str
    status: str = "inactive"
    last_synced_at: datetime | None = None
    accounts: dict[str, AccountRecord] = field(default_factory=dict)
    #: account id → the PSA company it is mapped to; service id → PSA product
    mapped_accounts: dict[str, str] = field(default_factory=dict)
    mapped_services: dict[str, str] = field(default_factory=dict)
    counts: list[UnitCountRecord] = field(default_factory=list)
    psa_companies: list[str] = field(default_factory=list)
    psa_products: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "organizationId": self.id,
            "name": self.name,
            "vendorId": self.vendor.id,
            "vendorName": self.vendor.name,
            "integrationId": self.integration_id,
            "status": self.status,
            "lastSyncedAt": self.last_synced_at.isoformat() if self.last_synced_at else None,
        }

    def account_json(self, account: AccountRecord) -> dict[str, Any]:
        mapped = account.id in self.mapped_accounts
        return {
            "id": account.id,
            "name": account.name,
            "description": account.description,
            "isMapped": mapped,
            "mappingId": f"map-{account.id}" if mapped else None,
        }

    def auto_map_service(self, service: ServiceRecord) -> None:
        if service.name in self.psa_products:
            self.mapped_services[service.id] = service.name


def _text_id(value: Any, what: str) -> str:
    """Ids are strings; numbers are read as their text (``400 invalid id type`` otherwise)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise SandboxError(400, f"{what} must be a string")
    text = str(value).strip()
    if not text:
        raise SandboxError(400, f"{what} should not be empty")
    return text


class GradientSandbox:
    def __init__(self, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self.vendors: dict[str, VendorRecord] = {}
        self.organizations: dict[tuple[str, str], OrganizationRecord] = {}

    @classmethod
    def seeded(cls, seed: str = "demo", **kw: Any) -> GradientSandbox:
        """``demo``: vendor key ``demo-vendor`` and partner token ``demo-partner``; ``empty``: nothing."""
        sandbox = cls(**kw)
        if seed == "demo":
            sandbox.add_vendor(DEMO_VENDOR_KEY, name="seatsync (demo vendor)")
            sandbox.add_partner(
                DEMO_VENDOR_KEY,
                DEMO_PARTNER_TOKEN,
                name="Demo MSP",
                psa_companies=DEMO_PSA_COMPANIES,
                psa_products=DEMO_PSA_PRODUCTS,
            )
        elif seed != "empty":
            raise ValueError(f"unknown seed {seed!r}: use demo or empty")
        return sandbox

    # ---- set-up (programmatic)
    def add_vendor(self, key: str, *, name: str = "Vendor") -> VendorRecord:
        with self._lock:
            vendor = VendorRecord(key=key, id=_new_id(), name=name)
            self.vendors[key] = vendor
            return vendor

    def add_partner(
        self,
        vendor_key: str,
        token: str,
        *,
        name: str = "MSP",
        psa_companies: Iterable[str] = (),
        psa_products: Iterable[str] = (),
    ) -> OrganizationRecord:
        with self._lock:
            vendor = self.vendors.get(vendor_key) or self.add_vendor(vendor_key)
            org = OrganizationRecord(
                vendor=vendor,
                partner_token=token,
                id=_new_id(),
                name=name,
                integration_id=_new_id(),
                psa_companies=list(psa_companies),
                psa_products=list(psa_products),
            )
            for service in vendor.services.values():
                org.auto_map_service(service)
            self.organizations[(vendor_key, token)] = org
            return org

    def revoke(self, token: str) -> None:
        """The MSP regenerated or deleted its key: the old one answers 401 from now on."""
        with self._lock:
            for key in [k for k in self.organizations if k[1] == token]:
                del self.organizations[key]

    # ---- the API
    def authenticate(self, header: str | None) -> OrganizationRecord:
        if not header:
            raise SandboxError(401, "Unauthorized: the GRADIENT-TOKEN header is missing")
        try:
            decoded = base64.b64decode(header.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise SandboxError(401, "Unauthorized: GRADIENT-TOKEN is not base64") from None
        vendor_key, sep, token = decoded.partition(":")
        with self._lock:
            org = self.organizations.get((vendor_key, token)) if sep else None
        if org is None:
            raise SandboxError(401, "Unauthorized")
        return org

    def set_status(self, org: OrganizationRecord, status: str) -> dict[str, Any]:
        if status not in STATUSES:  # case-sensitive, like Gradient
            raise SandboxError(400, f"status must be one of the following values: {', '.join(STATUSES)}")
        with self._lock:
            org.status = status
            return org.as_json()

    def vendor_json(self, org: OrganizationRecord) -> dict[str, Any]:
        with self._lock:
            return org.vendor.as_json()

    def create_service(self, org: OrganizationRecord, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise SandboxError(400, "the body must be a JSON object")
        name, category, subcategory = body.get("name"), body.get("category"), body.get("subcategory")
        if not isinstance(name, str) or not name.strip():
            raise SandboxError(400, "name should not be empty")
        if category not in CATEGORIES:
            raise SandboxError(400, f"category must be one of the following values: {', '.join(CATEGORIES)}")
        if not isinstance(subcategory, str) or not subcategory.strip():
            raise SandboxError(400, "subcategory should not be empty")
        description = body.get("description") or ""
        if not isinstance(description, str):
            raise SandboxError(400, "description must be a string")
        with self._lock:
            service = ServiceRecord(_new_id(), name, description, category, subcategory)
            org.vendor.services[service.id] = service
            for other in self.organizations.values():
                if other.vendor is org.vendor:
                    other.auto_map_service(service)
            return org.vendor.as_json()

    def service_json(self, org: OrganizationRecord, service_id: str) -> dict[str, Any]:
        with self._lock:
            service = org.vendor.services.get(service_id)
            if service is None:
                raise SandboxError(404, f"No service found with id: {service_id}")
            return service.as_json()

    def list_accounts(self, org: OrganizationRecord) -> list[dict[str, Any]]:
        with self._lock:
            return [org.account_json(a) for a in org.accounts.values()]

    def create_accounts(self, org: OrganizationRecord, body: Any) -> list[dict[str, Any]]:
        """All or nothing; an id that exists answers 409 (the reference leaves 409-or-upsert open)."""
        if not isinstance(body, list):
            raise SandboxError(400, "the body must be a JSON array of accounts")
        new: list[AccountRecord] = []
        for item in body:
            if not isinstance(item, dict):
                raise SandboxError(400, "each account must be an object with id and name")
            name = item.get("name")
            if not isinstance(name, str) or not name.strip():
                raise SandboxError(400, "name should not be empty")
            description = item.get("description") or ""
            new.append(AccountRecord(_text_id(item.get("id"), "id"), name, str(description)))
        ids = [a.id for a in new]
        if len(set(ids)) != len(ids):
            raise SandboxError(400, "the same account id appears twice in the request")
        with self._lock:
            existing = [i for i in ids if i in org.accounts]
            if existing:
                raise SandboxError(409, f"Account already exists with id: {', '.join(existing[:20])}")
            for account in new:
                org.accounts[account.id] = account
                if account.name in org.psa_companies:
                    org.mapped_accounts[account.id] = account.name
            return [{"id": a.id, "name": a.name, "description": a.description} for a in new]

    def rename_account(self, org: OrganizationRecord, account_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise SandboxError(400, "the body must be a JSON object")
        name, description = body.get("name"), body.get("description")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise SandboxError(400, "name should not be empty")
        if description is not None and not isinstance(description, str):
            raise SandboxError(400, "description must be a string")
        with self._lock:
            account = org.accounts.get(account_id)
            if account is None:
                raise SandboxError(404, f"No account found with id: {account_id}")
            if name is not None:
                account.name = name
            if description is not None:
                account.description = description
            return org.account_json(account)

    def set_count(self, org: OrganizationRecord, service_id: str, body: Any, *, no_build: bool) -> None:
        if not isinstance(body, dict):
            raise SandboxError(400, "the body must be a JSON object with accountId and unitCount")
        account_id = _text_id(body.get("accountId"), "accountId")
        count = body.get("unitCount")
        if isinstance(count, bool) or not isinstance(count, int | float):
            raise SandboxError(400, "unitCount must be a number")
        with self._lock:
            if service_id not in org.vendor.services:
                raise SandboxError(404, f"No service found with id: {service_id}")
            if account_id not in org.accounts or account_id not in org.mapped_accounts:
                raise SandboxError(404, f"No account map found with id: {account_id}")
            if service_id not in org.mapped_services:
                raise SandboxError(404, f"No service map found with id: {service_id}")
            now = self._clock()
            org.counts.append(UnitCountRecord(service_id, account_id, count, no_build, now))
            # Gradient makes the integration active itself once usage arrives
            org.status = "active"
            org.last_synced_at = now

    # ---- the MSP side (/_sandbox/...)
    def organization(self, token: str | None = None) -> OrganizationRecord:
        with self._lock:
            if token is None:
                if not self.organizations:
                    raise SandboxError(404, "the sandbox has no partner organization")
                return next(iter(self.organizations.values()))
            for (_, t), org in self.organizations.items():
                if t == token:
                    return org
        raise SandboxError(404, "no partner organization has that token")

    def map(
        self,
        *,
        accounts: str | Sequence[str] = (),
        services: str | Sequence[str] = (),
        token: str | None = None,
        unmap: bool = False,
    ) -> dict[str, Any]:
        """Map (or unmap) accounts and services as the MSP would by drag and drop; ``"all"`` means every one."""
        org = self.organization(token)
        with self._lock:
            for ids, known, target in (
                (accounts, org.accounts, org.mapped_accounts),
                (services, org.vendor.services, org.mapped_services),
            ):
                chosen = list(known) if ids == "all" else [str(i) for i in ids]
                unknown = [i for i in chosen if i not in known]
                if unknown:
                    raise SandboxError(404, f"unknown ids: {', '.join(unknown[:20])}")
                for i in chosen:
                    if unmap:
                        target.pop(i, None)
                    else:
                        target[i] = getattr(known[i], "name", i)
            return self.state(token)

    def partner_disconnects(self, token: str | None = None) -> None:
        """The MSP disconnects the integration in Synthesize: Gradient deletes the accounts."""
        org = self.organization(token)
        with self._lock:
            org.accounts.clear()
            org.mapped_accounts.clear()
            org.status = "inactive"

    def latest_counts(self, token: str | None = None) -> dict[tuple[str, str], float | int]:
        """``(account id, service id) → unit count`` as it stands now (the last one received wins)."""
        org = self.organization(token)
        with self._lock:
            return {(c.account_id, c.service_id): c.unit_count for c in org.counts}

    def state(self, token: str | None = None) -> dict[str, Any]:
        org = self.organization(token)
        with self._lock:
            return {
                "organization": org.as_json(),
                "status": org.status,
                "services": [s.as_json() for s in org.vendor.services.values()],
                "accounts": [org.account_json(a) for a in org.accounts.values()],
                "mappings": {
                    "accounts": dict(org.mapped_accounts),
                    "services": dict(org.mapped_services),
                },
                "psa": {"companies": list(org.psa_companies), "products": list(org.psa_products)},
                "counts": [c.as_json() for c in org.counts],
            }
