"""The sandbox's state: ConnectWise records, API members, pacing and faults. Thread-safe (one lock).

Tests and benchmarks build what they need programmatically::

    sandbox = ConnectWiseSandbox(seed=None)
    company = sandbox.add_company("Acme & Co")
    agreement = sandbox.add_agreement(company["id"])
    addition = sandbox.add_addition(agreement["id"], quantity=3)
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from seatsync.connectors.connectwise.errors import Right
from seatsync.sandboxes.connectwise import seed as demo
from seatsync.sandboxes.connectwise.service_desk import ServiceDesk

Record = dict[str, Any]

#: ConnectWise's billing cycles (System › Setup Tables › Billing Cycle) by name -> id
BILLING_CYCLES = {"Monthly": 1, "Quarterly": 2, "Semi-Annual": 3, "Annual": 4, "Weekly": 5}

#: fields of an addition a JSON Patch may change (the rest are computed or read-only)
PATCHABLE_ADDITION_FIELDS = {
    "quantity": "number",
    "lessIncluded": "number",
    "unitPrice": "number",
    "unitCost": "number",
    "sequenceNumber": "number",
    "billCustomer": "billCustomer",
    "effectiveDate": "date",
    "cancelledDate": "date",
    "description": "string",
    "invoiceDescription": "string",
    "serialNumber": "string",
    "uom": "string",
    "taxableFlag": "boolean",
    "purchaseItemFlag": "boolean",
    "specialOrderFlag": "boolean",
    "prorateCurrentPeriodFlag": "boolean",
    "product": "object",
}


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_iso() -> str:
    return iso(datetime.now(UTC))


def first_of_next_month(now: datetime | None = None) -> str:
    """The default ``nextInvoiceDate``: a monthly agreement billed in advance is next invoiced on the 1st."""
    today = (now or datetime.now(UTC)).astimezone(UTC)
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return f"{year:04d}-{month:02d}-01T00:00:00Z"


def _info(updated_by: str = "sandbox") -> dict[str, str]:
    return {"lastUpdated": now_iso(), "updatedBy": updated_by}


@dataclass(slots=True)
class Member:
    public_key: str
    private_key: str
    rights: frozenset[Right]


@dataclass(slots=True)
class LoggedRequest:
    at: float  # time.monotonic() when received
    method: str
    path: str
    member: str | None
    status: int = 0
    retry_after: float | None = None
    fault: str | None = None


@dataclass(slots=True)
class Change:
    """One effective change of an addition field (a repeat of the same value is not a change)."""

    addition_id: int
    field: str
    old: Any
    new: Any
    source: str  # "api" or "hand"
    at: str


@dataclass
class Document:
    info: Record
    record_type: str
    record_id: int
    content: bytes = field(repr=False)
    content_type: str = "application/octet-stream"


class ConnectWiseSandbox:
    def __init__(
        self,
        *,
        seed: str | None = "demo",
        company_id: str = "demo",
        codebase: str = "v2025_1/",
        latency_ms: float = 0.0,
        fault_rate: float = 0.0,
        rate_limit: int | None = None,
        rate_window_seconds: float = 60.0,
        slow_seconds: float = 35.0,
        random_seed: int | None = 0,
    ) -> None:
        self.lock = threading.RLock()
        self.company_id = company_id
        self.codebase = codebase
        self.latency_ms = latency_ms
        self.fault_rate = fault_rate
        #: requests per ``rate_window_seconds`` each API member may send; None = unlimited
        self.rate_limit = rate_limit
        self.rate_window_seconds = rate_window_seconds
        #: how long a "slow" fault holds its (already processed) answer; make it exceed the client's timeout
        self.slow_seconds = slow_seconds
        self.rng = random.Random(random_seed)
        self.members: dict[str, Member] = {}
        self.companies: dict[int, Record] = {}
        self.agreements: dict[int, Record] = {}
        self.additions: dict[int, Record] = {}
        self.catalog: dict[int, Record] = {}
        self.subcategories: dict[int, str] = dict(demo.DEMO_SUBCATEGORIES)
        self.product_types: dict[int, str] = dict(demo.DEMO_PRODUCT_TYPES)
        self.documents: dict[int, Document] = {}
        self.changes: list[Change] = []
        self.requests: deque[LoggedRequest] = deque(maxlen=200_000)
        self.request_counts: Counter[str] = Counter()
        self._windows: dict[str, deque[float]] = {}
        self._next_ids = {"company": 1, "agreement": 1, "addition": 1, "document": 1, "contact": 1}
        #: boards, statuses, tickets and notes (``/service/...``)
        self.service = ServiceDesk(lock=self.lock)
        self.reset(seed)

    # -- setup --------------------------------------------------------------------------------------

    def reset(self, seed: str | None = "demo") -> None:
        with self.lock:
            for store in (self.companies, self.agreements, self.additions, self.catalog, self.documents):
                store.clear()
            self.changes.clear()
            self.requests.clear()
            self.request_counts.clear()
            self._windows.clear()
            self.members.clear()
            self._next_ids = {"company": 1, "agreement": 1, "addition": 1, "document": 1, "contact": 1}
            for public, (private, lacking) in demo.DEMO_MEMBERS.items():
                self.add_member(public, private, lacking=lacking)
            for item_id, identifier, description, price, cost in demo.DEMO_CATALOG:
                self.add_catalog_item(identifier, description, id=item_id, price=price, cost=cost)
            self.service.reset(seed)
            if seed == "demo":
                self._seed_demo()
            elif seed not in (None, "", "empty"):
                raise ValueError(f"unknown sandbox seed {seed!r}: use 'demo' or 'empty'")

    def _seed_demo(self) -> None:
        self._next_ids.update(
            company=demo.FIRST_COMPANY_ID, agreement=demo.FIRST_AGREEMENT_ID, addition=demo.FIRST_ADDITION_ID
        )
        for index, (identifier, name, deleted) in enumerate(demo.DEMO_COMPANIES):
            company = self.add_company(name, identifier=identifier, deleted=deleted)
            if deleted:
                continue
            agreement = self.add_agreement(company["id"], name=f"Managed Services - {name}")
            if index == demo.CANCELLED_ADDITION_FOR:
                self.add_addition(
                    agreement["id"],
                    quantity=demo.demo_quantity(index) - 3,
                    effective_date="2024-01-01T00:00:00Z",
                    cancelled_date="2025-12-31T00:00:00Z",
                )
            self.add_addition(agreement["id"], quantity=demo.demo_quantity(index))
            if index % 4 == 1:
                self.add_addition(agreement["id"], product="BACKUP-M365", quantity=demo.demo_quantity(index) + 2)
            if index == demo.CANCELLED_AGREEMENT_FOR:
                old = self.add_agreement(
                    company["id"], name=f"Security Awareness (old) - {name}", status="Cancelled", cancelled=True
                )
                self.add_addition(old["id"], quantity=12, cancelled_date="2025-06-30T00:00:00Z")
            if index == demo.EXPIRED_AGREEMENT_FOR:
                old = self.add_agreement(
                    company["id"], name=f"Pilot 2024 - {name}", status="Expired", end_date="2024-12-31T00:00:00Z"
                )
                self.add_addition(old["id"], quantity=4)

    def _new_id(self, kind: str, wanted: int | None) -> int:
        if wanted is not None:
            self._next_ids[kind] = max(self._next_ids[kind], wanted + 1)
            return wanted
        value = self._next_ids[kind]
        self._next_ids[kind] = value + 1
        return value

    def add_member(self, public_key: str, private_key: str, *, lacking: tuple[Right, ...] = ()) -> Member:
        with self.lock:
            member = Member(public_key, private_key, frozenset(Right) - frozenset(lacking))
            self.members[public_key] = member
            return member

    def add_company(
        self,
        name: str,
        *,
        identifier: str | None = None,
        id: int | None = None,
        deleted: bool = False,
        status: str | None = None,
    ) -> Record:
        status = status or ("Inactive" if deleted else "Active")
        with self.lock:
            company_id = self._new_id("company", id)
            record: Record = {
                "id": company_id,
                "identifier": identifier or f"C{company_id}",
                "name": name,
                "status": {"id": 1 if status == "Active" else 2, "name": status, "_info": {}},
                "types": [{"id": 1, "name": "Client"}],
                "phoneNumber": "",
                "website": "",
                "deletedFlag": deleted,
                "mobileGuid": str(uuid.UUID(int=company_id)),
                "_info": _info(),
            }
            if deleted:
                record["dateDeleted"] = "2025-11-03T14:00:00Z"
                record["deletedBy"] = "admin"
            self.companies[company_id] = record
            return record

    def add_companies(self, count: int, *, prefix: str = "Company") -> list[Record]:
        """Many plain companies at once (benchmarks, paging tests)."""
        with self.lock:
            return [self.add_company(f"{prefix} {n:05d}") for n in range(1, count + 1)]

    def _company_ref(self, company_id: int) -> Record:
        company = self.companies[company_id]
        return {"id": company_id, "identifier": company["identifier"], "name": company["name"]}

    def add_agreement(
        self,
        company_id: int,
        *,
        name: str | None = None,
        id: int | None = None,
        status: str = "Active",
        cancelled: bool = False,
        start_date: str = "2025-01-01T00:00:00Z",
        end_date: str | None = None,
        type_name: str = "Managed Services",
        next_invoice_date: str | None = None,
        billing_cycle: str = "Monthly",
        prorate: bool = False,
    ) -> Record:
        with self.lock:
            if company_id not in self.companies:
                raise KeyError(f"no company {company_id}")
            agreement_id = self._new_id("agreement", id)
            contact_id = self._new_id("contact", None)
            record: Record = {
                "id": agreement_id,
                "name": name or f"Agreement {agreement_id}",
                "type": {"id": 1, "name": type_name},
                "company": self._company_ref(company_id),
                "contact": {"id": contact_id, "name": "Billing Contact"},
                "startDate": start_date,
                "noEndingDateFlag": end_date is None,
                "cancelledFlag": cancelled,
                "agreementStatus": status,
                "billingCycle": {"id": BILLING_CYCLES.get(billing_cycle, 1), "name": billing_cycle},
                "prorateFlag": prorate,
                "nextInvoiceDate": next_invoice_date or first_of_next_month(),
                "billAmount": 0.0,
                "applicationUnits": "Amount",
                "_info": _info(),
            }
            if end_date:
                record["endDate"] = end_date
            if cancelled:
                record["dateCancelled"] = "2025-06-30T00:00:00Z"
                record["reasonCancelled"] = "Replaced"
            self.agreements[agreement_id] = record
            return record

    def add_addition(
        self,
        agreement_id: int,
        *,
        product: str = demo.SECURITY_AWARENESS_PRODUCT,
        quantity: float = 0,
        id: int | None = None,
        unit_price: float | None = None,
        unit_cost: float | None = None,
        effective_date: str = "2025-01-01T00:00:00Z",
        cancelled_date: str | None = None,
        bill_customer: str = "Billable",
        less_included: float = 0.0,
    ) -> Record:
        with self.lock:
            agreement = self.agreements.get(agreement_id)
            if agreement is None:
                raise KeyError(f"no agreement {agreement_id}")
            item = next((c for c in self.catalog.values() if c["identifier"] == product), None)
            addition_id = self._new_id("addition", id)
            price = unit_price if unit_price is not None else (item["price"] if item else 1.0)
            cost = unit_cost if unit_cost is not None else (item["cost"] if item else 0.5)
            record: Record = {
                "id": addition_id,
                "agreementId": agreement_id,
                "product": {"id": item["id"] if item else None, "identifier": product},
                "quantity": float(quantity),
                "lessIncluded": float(less_included),
                "unitPrice": price,
                "unitCost": cost,
                "billCustomer": bill_customer,
                "effectiveDate": effective_date,
                "taxableFlag": False,
                "description": item["description"] if item else product,
                "uom": "Each",
                "agreementStatus": agreement["agreementStatus"],
                "_info": _info(),
            }
            if cancelled_date:
                record["cancelledDate"] = cancelled_date
            self._recompute(record)
            self.additions[addition_id] = record
            return record

    def add_catalog_item(
        self,
        identifier: str,
        description: str,
        *,
        id: int | None = None,
        price: float = 1.0,
        cost: float = 0.5,
        subcategory_id: int = 1,
        type_id: int = 1,
        customer_description: str | None = None,
    ) -> Record:
        with self.lock:
            item_id = id if id is not None else max(self.catalog, default=900) + 1
            record: Record = {
                "id": item_id,
                "identifier": identifier,
                "description": description,
                "inactiveFlag": False,
                "subcategory": {"id": subcategory_id, "name": self.subcategories[subcategory_id]},
                "type": {"id": type_id, "name": self.product_types[type_id]},
                "productClass": "Service",
                "price": price,
                "cost": cost,
                "customerDescription": customer_description or description,
                "taxableFlag": False,
                "recurringFlag": True,
                "_info": _info(),
            }
            self.catalog[item_id] = record
            return record

    def find_catalog_item(self, *, id: int | None = None, identifier: str | None = None) -> Record | None:
        """A catalog product by id, or by identifier (ConnectWise compares identifiers without case)."""
        with self.lock:
            if id is not None:
                return self.catalog.get(id)
            wanted = (identifier or "").casefold()
            return next((c for c in self.catalog.values() if c["identifier"].casefold() == wanted), None)

    def configure(
        self,
        *,
        latency_ms: float | None = None,
        fault_rate: float | None = None,
        rate_limit: int | None = None,
        rate_window_seconds: float | None = None,
        slow_seconds: float | None = None,
        unlimited: bool = False,
    ) -> None:
        with self.lock:
            if latency_ms is not None:
                self.latency_ms = latency_ms
            if fault_rate is not None:
                if not 0 <= fault_rate <= 1:
                    raise ValueError("fault_rate is a probability between 0 and 1")
                self.fault_rate = fault_rate
            if rate_limit is not None or unlimited:
                self.rate_limit = None if unlimited else rate_limit
            if rate_window_seconds is not None:
                self.rate_window_seconds = rate_window_seconds
            if slow_seconds is not None:
                self.slow_seconds = slow_seconds

    # -- behaviour used by the app ----------------------------------------------------------------------

    @staticmethod
    def _recompute(addition: Record) -> None:
        quantity = addition.get("quantity") or 0.0
        addition["extPrice"] = round(quantity * (addition.get("unitPrice") or 0.0), 2)
        addition["extCost"] = round(quantity * (addition.get("unitCost") or 0.0), 2)
        addition["margin"] = round(addition["extPrice"] - addition["extCost"], 2)

    def apply_addition_change(self, addition: Record, field_name: str, value: Any, *, source: str, by: str) -> None:
        with self.lock:
            old = addition.get(field_name)
            if value is None:
                addition.pop(field_name, None)
            else:
                addition[field_name] = value
            if old != value:
                self.changes.append(Change(addition["id"], field_name, old, value, source, now_iso()))
            self._recompute(addition)
            addition["_info"] = _info(by)

    def set_quantity_by_hand(self, addition_id: int, quantity: float) -> Record:
        """Someone edits the addition in ConnectWise's UI (drift tests)."""
        with self.lock:
            addition = self.additions[addition_id]
            self.apply_addition_change(addition, "quantity", float(quantity), source="hand", by="admin")
            return addition

    def add_document(
        self,
        *,
        record_type: str,
        record_id: int,
        title: str,
        filename: str,
        content: bytes,
        content_type: str,
        private: bool,
        owner: str,
    ) -> Document:
        with self.lock:
            document_id = self._new_id("document", None)
            extension = filename.rsplit(".", 1)[-1] if "." in filename else "bin"
            info: Record = {
                "id": document_id,
                "title": title,
                "fileName": filename,
                "serverFileName": f"{uuid.uuid4()}.{extension}",
                "owner": owner,
                "linkFlag": False,
                "imageFlag": content_type.startswith("image/"),
                "publicFlag": not private,
                "htmlTemplateFlag": False,
                "readOnlyFlag": False,
                "size": len(content),
                "urlFlag": False,
                "createdOnDate": now_iso(),
                "documentType": {"id": 7, "name": "Attachment"},
                "guid": str(uuid.uuid4()),
                "_info": _info(owner),
            }
            document = Document(info, record_type, record_id, content, content_type)
            self.documents[document_id] = document
            return document

    def record_exists(self, record_type: str, record_id: int) -> bool:
        with self.lock:
            if record_type == "Company":
                return record_id in self.companies
            if record_type == "Agreement":
                return record_id in self.agreements
            return False

    def admit(self, member: str) -> float | None:
        """Count one request of ``member`` against the rate limit; the Retry-After seconds when over it."""
        with self.lock:
            if self.rate_limit is None:
                return None
            now = time.monotonic()
            window = self._windows.setdefault(member, deque())
            while window and window[0] <= now - self.rate_window_seconds:
                window.popleft()
            if len(window) >= self.rate_limit:
                return max(0.0, window[0] + self.rate_window_seconds - now)
            window.append(now)
            return None

    def draw_fault(self) -> str | None:
        with self.lock:
            if self.fault_rate <= 0 or self.rng.random() >= self.fault_rate:
                return None
            return self.rng.choice(("error", "slow", "drop"))

    def log(self, entry: LoggedRequest, route: str) -> None:
        with self.lock:
            self.requests.append(entry)
            self.request_counts[route] += 1

    # -- inspection --------------------------------------------------------------------------------------

    def changes_of(self, addition_id: int, field_name: str = "quantity") -> list[Change]:
        with self.lock:
            return [c for c in self.changes if c.addition_id == addition_id and c.field == field_name]

    def stats(self) -> dict[str, Any]:
        with self.lock:
            statuses = Counter(r.status for r in self.requests)
            faults = Counter(r.fault for r in self.requests if r.fault)
            return {
                "total": len(self.requests),
                "by_route": dict(self.request_counts),
                "by_status": {str(k): v for k, v in sorted(statuses.items())},
                "faults": dict(faults),
            }

    def state(self) -> dict[str, Any]:
        """Everything, JSON-able (``GET /_sandbox/state``). Private keys and file contents are left out."""
        with self.lock:
            return {
                "company_id": self.company_id,
                "codebase": self.codebase,
                "settings": {
                    "latency_ms": self.latency_ms,
                    "fault_rate": self.fault_rate,
                    "rate_limit": self.rate_limit,
                    "rate_window_seconds": self.rate_window_seconds,
                    "slow_seconds": self.slow_seconds,
                },
                "members": [
                    {"public_key": m.public_key, "rights": sorted(str(r) for r in m.rights)}
                    for m in self.members.values()
                ],
                "companies": list(self.companies.values()),
                "agreements": list(self.agreements.values()),
                "additions": list(self.additions.values()),
                "catalog": list(self.catalog.values()),
                "documents": [
                    {**d.info, "recordType": d.record_type, "recordId": d.record_id} for d in self.documents.values()
                ],
                "changes": [
                    {
                        "additionId": c.addition_id,
                        "field": c.field,
                        "old": c.old,
                        "new": c.new,
                        "source": c.source,
                        "at": c.at,
                    }
                    for c in self.changes
                ],
                "service": self.service.state(),
                "requests": self.stats(),
            }
