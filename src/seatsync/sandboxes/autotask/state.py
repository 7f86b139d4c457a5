"""The Autotask sandbox's state: records, API users, the shared hourly threshold, thread limits, faults.
Thread-safe (one lock). Business rules live here; ``app.py`` speaks HTTP.

Tests and benchmarks build what they need programmatically::

    sandbox = AutotaskSandbox(seed=None)
    company = sandbox.add_company("Acme & Co")
    contract = sandbox.add_contract(company["id"])
    service = sandbox.add_contract_service(contract["id"], SECURITY_AWARENESS_SERVICE, units=3)
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from seatsync.connectors.autotask.errors import Permission
from seatsync.sandboxes.autotask import seed as demo

Record = dict[str, Any]

#: entities the sandbox answers queries for (API spelling)
QUERYABLE = (
    "Companies",
    "Contracts",
    "Services",
    "ContractServices",
    "ContractServiceUnits",
    "ContractNotes",
)
READ_PERMISSION: dict[str, Permission] = {
    "Companies": Permission.COMPANIES_READ,
    "Contracts": Permission.CONTRACTS_READ,
    "Services": Permission.CONTRACTS_READ,
    "ContractServices": Permission.CONTRACTS_READ,
    "ContractServiceUnits": Permission.CONTRACTS_READ,
    "ContractNotes": Permission.CONTRACTS_READ,
}
MAX_ATTACHMENT_BYTES = 7_000_000
ATTACHMENT_VOLUME_BYTES = 10_000_000
ATTACHMENT_VOLUME_SECONDS = 300.0
POSTED_MESSAGE = (
    "Unable to make changes as it would result in the deletion/modification of an already approved and posted "
    "contract period."
)


class Refusal(Exception):
    """A request the sandbox refuses, answered as ``{"errors": [message]}`` with ``status``."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


@dataclass(slots=True)
class ApiUser:
    username: str
    secret: str
    permissions: frozenset[Permission]
    resource_id: int


@dataclass(slots=True)
class LoggedRequest:
    at: float
    method: str
    path: str
    user: str | None
    status: int = 0
    fault: str | None = None


def day_of(value: Any) -> date:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or len(value) < 10:
        raise ValueError(f"{value!r} is not a date")
    return date.fromisoformat(value[:10])


def stamp(day: date) -> str:
    return f"{day.isoformat()}T00:00:00"


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


@dataclass
class Threshold:
    """The MSP's rolling-hour request count, shared by every integration (seatsync and "the others")."""

    limit: int
    window: float
    clock: Callable[[], float]
    stamps: deque[float] = field(default_factory=deque)
    #: the highest count reached (for tests and the benchmark: did anyone take the MSP past a share?)
    peak: int = 0

    def count(self) -> int:
        horizon = self.clock() - self.window
        while self.stamps and self.stamps[0] <= horizon:
            self.stamps.popleft()
        return len(self.stamps)

    def retry_after(self) -> float:
        return max(1.0, self.stamps[0] + self.window - self.clock()) if self.stamps else 1.0


class AutotaskSandbox:
    def __init__(
        self,
        *,
        seed: str | None = "demo",
        latency_ms: float = 0.0,
        fault_rate: float = 0.0,
        rate_limit: int | None = None,
        threshold: int = 10_000,
        threshold_window_seconds: float = 3600.0,
        slowdown_ms: float = 500.0,
        other_integrations: int = 0,
        thread_limit: int = 3,
        zone_url: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        random_seed: int | None = 0,
    ) -> None:
        self.lock = threading.RLock()
        self.latency_ms = latency_ms
        self.fault_rate = fault_rate
        #: requests a minute per integration code before 429 (None: only the hourly threshold)
        self.rate_limit = rate_limit
        #: past half the threshold Autotask answers slower (0.5–1 s a call)
        self.slowdown_ms = slowdown_ms
        self.thread_limit = thread_limit
        #: while set, API answers wait (after taking their thread slot): lets a test hold requests in flight
        self.hold_answers = threading.Event()
        #: where zoneInformation points (None: at the sandbox itself)
        self.zone_url = zone_url
        self.clock = clock
        self.rng = random.Random(random_seed)
        self.threshold = Threshold(threshold, threshold_window_seconds, clock)
        self._seed_other = other_integrations
        self.users: dict[str, ApiUser] = {}
        self.tables: dict[str, dict[int, Record]] = {name: {} for name in QUERYABLE if name != "ContractServiceUnits"}
        self.attachments: dict[int, Record] = {}
        self.attachment_data: dict[int, bytes] = {}
        self.base_units: dict[int, int] = {}
        self.adjustments: list[Record] = []
        self.posted_through: dict[int, date] = {}
        self.requests: deque[LoggedRequest] = deque(maxlen=200_000)
        self.request_counts: Counter[str] = Counter()
        self._minute: dict[str, deque[float]] = {}
        self._attachment_volume: deque[tuple[float, int]] = deque()
        self.inflight: Counter[tuple[str, str]] = Counter()
        self._ids: Counter[str] = Counter()
        self.reset(seed)

    # -- setup --------------------------------------------------------------------------------------

    def reset(self, seed: str | None = "demo") -> None:
        with self.lock:
            for table in self.tables.values():
                table.clear()
            for store in (self.attachments, self.attachment_data, self.base_units, self.posted_through, self.users):
                store.clear()
            self.adjustments.clear()
            self.requests.clear()
            self.request_counts.clear()
            self.threshold.stamps.clear()
            self.threshold.peak = 0
            self._ids = Counter({"company": 1, "contract": 1, "contractservice": 1, "note": 1, "attachment": 1})
            self._ids.update({"adjustment": 1, "service": 100})
            for user in demo.DEMO_USERS:
                self.add_user(user.username, user.secret, lacking=user.lacking, resource_id=user.resource_id)
            for service_id, name, price in demo.DEMO_SERVICES:
                self.add_service(name, id=service_id, unit_price=price)
            if seed == "demo":
                self._seed_demo()
            elif seed not in (None, "", "empty"):
                raise ValueError(f"unknown sandbox seed {seed!r}: use 'demo' or 'empty'")
            if self._seed_other:
                self.spend_by_others(self._seed_other)

    def _seed_demo(self) -> None:
        self._ids["company"] = demo.FIRST_COMPANY_ID
        self._ids["contract"] = demo.FIRST_CONTRACT_ID
        for index, (_identifier, name, deleted) in enumerate(demo.DEMO_COMPANIES):
            company = self.add_company(name, active=not deleted)
            if deleted or index in demo.WITHOUT_CONTRACT:
                continue
            contract = self.add_contract(company["id"], name=f"Managed Services - {name}")
            self.add_contract_service(contract["id"], demo.SECURITY_AWARENESS_SERVICE, units=demo.demo_quantity(index))
            if index == demo.TWO_SERVICES_FOR:
                self.add_contract_service(contract["id"], demo.PHISHING_SERVICE, units=demo.demo_quantity(index) - 2)
            if index == demo.INACTIVE_CONTRACT_FOR:
                old = self.add_contract(
                    company["id"],
                    name=f"Security Awareness 2024 - {name}",
                    status=0,
                    start="2024-01-01",
                    end="2024-12-31",
                )
                self.add_contract_service(old["id"], demo.SECURITY_AWARENESS_SERVICE, units=12)
            if index == demo.TIME_AND_MATERIALS_FOR:
                self.add_contract(company["id"], name=f"Time & Materials - {name}", contract_type=1)

    def _new_id(self, kind: str, wanted: int | None) -> int:
        if wanted is not None:
            self._ids[kind] = max(self._ids[kind], wanted + 1)
            return wanted
        value = self._ids[kind]
        self._ids[kind] = value + 1
        return value

    def add_user(
        self, username: str, secret: str, *, lacking: tuple[Permission, ...] = (), resource_id: int = 1
    ) -> ApiUser:
        with self.lock:
            user = ApiUser(username, secret, frozenset(Permission) - frozenset(lacking), resource_id)
            self.users[username.casefold()] = user
            return user

    def add_company(self, name: str, *, id: int | None = None, active: bool = True, company_type: int = 1) -> Record:
        with self.lock:
            company_id = self._new_id("company", id)
            record = {
                "id": company_id,
                "companyName": name,
                "companyType": company_type,
                "isActive": active,
                "parentCompanyID": None,
                "phone": "",
                "webAddress": None,
                "lastActivityDate": "2026-01-15T10:00:00",
            }
            self.tables["Companies"][company_id] = record
            return record

    def add_companies(self, count: int, *, prefix: str = "Company") -> list[Record]:
        with self.lock:
            return [self.add_company(f"{prefix} {n:05d}") for n in range(1, count + 1)]

    def add_service(self, name: str, *, id: int | None = None, unit_price: float = 1.0) -> Record:
        with self.lock:
            service_id = self._new_id("service", id)
            record = {
                "id": service_id,
                "name": name,
                "description": name,
                "invoiceDescription": name,
                "unitPrice": unit_price,
                "unitCost": round(unit_price / 2, 2),
                "periodType": 2,
                "isActive": True,
                "billingCodeID": 29682801,
                "vendorCompanyID": None,
            }
            self.tables["Services"][service_id] = record
            return record

    def add_contract(
        self,
        company_id: int,
        *,
        name: str | None = None,
        id: int | None = None,
        contract_type: int = 7,
        status: int = 1,
        start: str = demo.CONTRACT_START,
        end: str = demo.CONTRACT_END,
    ) -> Record:
        with self.lock:
            if company_id not in self.tables["Companies"]:
                raise KeyError(f"no company {company_id}")
            contract_id = self._new_id("contract", id)
            record = {
                "id": contract_id,
                "companyID": company_id,
                "contractName": name or f"Contract {contract_id}",
                "contractNumber": f"C-{contract_id}",
                "contractType": contract_type,
                "status": status,
                "startDate": stamp(day_of(start)),
                "endDate": stamp(day_of(end)),
                "contractPeriodType": "m",
                "isDefaultContract": False,
                "billingPreference": 2,
                "lastModifiedDateTime": "2026-01-15T10:00:00",
            }
            self.tables["Contracts"][contract_id] = record
            return record

    def add_contract_service(self, contract_id: int, service_id: int, *, units: int = 0) -> Record:
        with self.lock:
            service = self.tables["Services"][service_id]
            contract_service_id = self._new_id("contractservice", None)
            record = {
                "id": contract_service_id,
                "contractID": contract_id,
                "serviceID": service_id,
                "unitPrice": service["unitPrice"],
                "unitCost": service["unitCost"],
                "internalCurrencyUnitPrice": service["unitPrice"],
                "internalCurrencyAdjustedPrice": service["unitPrice"],
                "invoiceDescription": service["invoiceDescription"],
                "internalDescription": None,
                "quoteItemID": None,
            }
            self.tables["ContractServices"][contract_service_id] = record
            self.base_units[contract_service_id] = units
            return record

    def approve_and_post(self, contract_id: int, through: date) -> None:
        """Approve and post every period of the contract that ends on or before ``through`` (as the MSP does)."""
        with self.lock:
            if contract_id not in self.tables["Contracts"]:
                raise KeyError(f"no contract {contract_id}")
            self.posted_through[contract_id] = through

    def set_units_by_hand(self, contract_service_id: int, day: date, units: int, *, source: str = "hand") -> None:
        """Someone changes the units in Autotask's UI from ``day`` (not through the API: drift for seatsync)."""
        with self.lock:
            current = self.units_on(contract_service_id, day)
            if units != current:
                service = self.tables["ContractServices"][contract_service_id]
                self._record_adjustment(service, day, units - current, source=source)

    def spend_by_others(self, requests: int) -> None:
        """Other integrations of the MSP spend ``requests`` of the hourly threshold now."""
        with self.lock:
            now = self.clock()
            self.threshold.stamps.extend([now] * requests)
            self.threshold.peak = max(self.threshold.peak, self.threshold.count())

    # -- limits ---------------------------------------------------------------------------------------

    def threshold_information(self) -> Record:
        with self.lock:
            return {
                "externalRequestThreshold": self.threshold.limit,
                "requestThresholdTimeframe": round(self.threshold.window / 60),
                "currentTimeframeRequestCount": self.threshold.count(),
            }

    def admit(self, integration_code: str) -> tuple[float | None, float]:
        """Count one request against the hourly threshold (and the per-minute limit). Returns
        (seconds to wait when refused, extra latency in seconds past half the threshold)."""
        with self.lock:
            used = self.threshold.count()
            if used >= self.threshold.limit:
                return self.threshold.retry_after(), 0.0
            if self.rate_limit is not None:
                window = self._minute.setdefault(integration_code, deque())
                now = self.clock()
                while window and window[0] <= now - 60.0:
                    window.popleft()
                if len(window) >= self.rate_limit:
                    return max(1.0, window[0] + 60.0 - now), 0.0
                window.append(now)
            self.threshold.stamps.append(self.clock())
            self.threshold.peak = max(self.threshold.peak, used + 1)
            slow = self.slowdown_ms / 1000 if used + 1 >= self.threshold.limit / 2 else 0.0
            return None, slow

    def draw_fault(self) -> str | None:
        """``error`` (refused, nothing done) or ``lost`` (done, then the answer is a 500)."""
        with self.lock:
            if self.fault_rate <= 0 or self.rng.random() >= self.fault_rate:
                return None
            return "error" if self.rng.random() < 0.5 else "lost"

    # -- reads ----------------------------------------------------------------------------------------

    def records(self, entity: str, *, contract_service_id: Any = None, contract_id: Any = None) -> list[Record]:
        with self.lock:
            if entity == "ContractServiceUnits":
                return self.unit_rows(contract_service_id=contract_service_id, contract_id=contract_id)
            return [dict(r) for r in self.tables[entity].values()]

    def _periods(self, contract: Record) -> list[tuple[date, date]]:
        start, end = day_of(contract["startDate"]), day_of(contract["endDate"])
        periods: list[tuple[date, date]] = []
        first = start
        while first <= end:
            last = min(_month_end(first), end)
            periods.append((first, last))
            first = last + timedelta(days=1)
        return periods

    def unit_rows(self, *, contract_service_id: Any = None, contract_id: Any = None) -> list[Record]:
        """ContractServiceUnits: one row per period, split at each adjustment's effective date."""
        with self.lock:
            services = list(self.tables["ContractServices"].values())
            if isinstance(contract_service_id, int):
                services = [s for s in services if s["id"] == contract_service_id]
            if isinstance(contract_id, int):
                services = [s for s in services if s["contractID"] == contract_id]
            rows: list[Record] = []
            for service in services:
                rows.extend(self._service_rows(service))
            return rows

    def _service_rows(self, service: Record) -> list[Record]:
        contract = self.tables["Contracts"][service["contractID"]]
        changes = sorted(
            (day_of(a["effectiveDate"]), a["unitChange"])
            for a in self.adjustments
            if a["contractServiceID"] == service["id"]
        )
        posted = self.posted_through.get(contract["id"])
        rows: list[Record] = []
        for number, (first, last) in enumerate(self._periods(contract)):
            cuts = sorted({d for d, _ in changes if first < d <= last})
            starts = [first, *cuts]
            for part, begin in enumerate(starts):
                finish = starts[part + 1] - timedelta(days=1) if part + 1 < len(starts) else last
                units = self.base_units[service["id"]] + sum(delta for d, delta in changes if d <= begin)
                rows.append(
                    {
                        "id": service["id"] * 10_000 + number * 50 + part,
                        "contractID": contract["id"],
                        "contractServiceID": service["id"],
                        "serviceID": service["serviceID"],
                        "startDate": stamp(begin),
                        "endDate": stamp(finish),
                        "units": units,
                        "price": service["unitPrice"],
                        "cost": service["unitCost"],
                        "internalCurrencyPrice": service["unitPrice"],
                        "approveAndPostDate": stamp(posted) if posted is not None and last <= posted else None,
                        "vendorCompanyID": None,
                    }
                )
        return rows

    def units_on(self, contract_service_id: int, day: date) -> int:
        with self.lock:
            for row in self.unit_rows(contract_service_id=contract_service_id):
                if day_of(row["startDate"]) <= day <= day_of(row["endDate"]):
                    return int(row["units"])
            return 0

    def item(self, entity: str, record_id: int) -> Record | None:
        with self.lock:
            if entity == "ContractServiceUnits":
                return next((r for r in self.unit_rows() if r["id"] == record_id), None)
            found = self.tables[entity].get(record_id)
            return dict(found) if found is not None else None

    # -- writes ---------------------------------------------------------------------------------------

    def _record_adjustment(self, service: Record, day: date, change: int, *, source: str) -> Record:
        adjustment = {
            "id": self._new_id("adjustment", None),
            "contractID": service["contractID"],
            "contractServiceID": service["id"],
            "serviceID": service["serviceID"],
            "effectiveDate": stamp(day),
            "unitChange": change,
            "source": source,
        }
        self.adjustments.append(adjustment)
        return adjustment

    def adjust(self, body: Record, user: ApiUser) -> int:
        """POST ContractServiceAdjustments: a unit delta from effectiveDate (creates the ContractService if needed)."""
        with self.lock:
            if not body.get("effectiveDate"):
                raise Refusal(400, "effectiveDate is required.")
            try:
                day = day_of(body["effectiveDate"])
            except ValueError:
                raise Refusal(400, f"effectiveDate {body['effectiveDate']!r} is not a date.") from None
            change = body.get("unitChange")
            if not isinstance(change, int) or isinstance(change, bool):
                raise Refusal(400, "unitChange must be an integer.")
            service = self._adjusted_service(body)
            contract = self.tables["Contracts"][service["contractID"]]
            if not (day_of(contract["startDate"]) <= day <= day_of(contract["endDate"])):
                raise Refusal(
                    400,
                    f"effectiveDate {day} is outside contract {contract['id']} ({contract['startDate'][:10]} to {contract['endDate'][:10]}).",
                )
            posted = self.posted_through.get(contract["id"])
            if posted is not None and day <= posted:
                raise Refusal(500, POSTED_MESSAGE)
            if self.units_on(service["id"], day) + change < 0:
                raise Refusal(400, "The adjustment would make the service's units negative.")
            return int(self._record_adjustment(service, day, change, source=user.username)["id"])

    def _adjusted_service(self, body: Record) -> Record:
        services = self.tables["ContractServices"]
        contract_id, service_id = body.get("contractID"), body.get("serviceID")
        if body.get("contractServiceID") is not None:
            found = services.get(body["contractServiceID"])
            if found is None or (contract_id is not None and found["contractID"] != contract_id):
                raise Refusal(400, f"ContractServiceID {body['contractServiceID']} was not found on the contract.")
            return found
        if contract_id is None or service_id is None:
            raise Refusal(400, "Either contractServiceID, or contractID and serviceID, are required.")
        contract = self.tables["Contracts"].get(contract_id)
        if contract is None:
            raise Refusal(400, f"ContractID {contract_id} was not found.")
        if contract["contractType"] != 7:
            raise Refusal(400, "Service adjustments can only be made on Recurring Service contracts.")
        if service_id not in self.tables["Services"]:
            raise Refusal(400, f"ServiceID {service_id} was not found.")
        existing = next(
            (s for s in services.values() if s["contractID"] == contract_id and s["serviceID"] == service_id), None
        )
        # Autotask creates the ContractService an adjustment names when the contract has none for that service
        return existing or self.add_contract_service(contract_id, service_id, units=0)

    def create_note(self, contract_id: int, body: Record, user: ApiUser) -> int:
        with self.lock:
            if contract_id not in self.tables["Contracts"]:
                raise Refusal(500, f"No matching records found. Contract {contract_id} does not exist.")
            title, description = body.get("title"), body.get("description")
            if not isinstance(title, str) or not title.strip():
                raise Refusal(400, "title is required.")
            if not isinstance(description, str) or not description.strip():
                raise Refusal(400, "description is required.")
            note_id = self._new_id("note", None)
            self.tables["ContractNotes"][note_id] = {
                "id": note_id,
                "contractID": contract_id,
                "title": title[:250],
                "description": description[:3200],
                "creatorResourceID": user.resource_id,
                "lastActivityDate": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            }
            return note_id

    def attach(self, note_id: int, body: Record) -> int:
        with self.lock:
            note = self.tables["ContractNotes"].get(note_id)
            if note is None:
                raise Refusal(500, f"No matching records found. Contract note {note_id} does not exist.")
            try:
                data = base64.b64decode(str(body.get("data") or ""), validate=True)
            except (binascii.Error, ValueError):
                raise Refusal(400, "data must be base64.") from None
            if not data:
                raise Refusal(400, "data is required.")
            if len(data) > MAX_ATTACHMENT_BYTES:
                raise Refusal(400, f"The attachment exceeds the maximum size of {MAX_ATTACHMENT_BYTES} bytes.")
            now = self.clock()
            while self._attachment_volume and self._attachment_volume[0][0] <= now - ATTACHMENT_VOLUME_SECONDS:
                self._attachment_volume.popleft()
            if sum(size for _, size in self._attachment_volume) + len(data) > ATTACHMENT_VOLUME_BYTES:
                wait = self._attachment_volume[0][0] + ATTACHMENT_VOLUME_SECONDS - now
                raise Refusal(429, "Attachment volume threshold exceeded; try again later.", retry_after=max(1.0, wait))
            self._attachment_volume.append((now, len(data)))
            title = str(body.get("title") or body.get("fullPath") or "attachment")
            attachment_id = self._new_id("attachment", None)
            self.attachments[attachment_id] = {
                "id": attachment_id,
                "contractNoteID": note_id,
                "contractID": note["contractID"],
                "title": title,
                "fullPath": str(body.get("fullPath") or title),
                "attachmentType": str(body.get("attachmentType") or "FILE_ATTACHMENT"),
                "publish": body.get("publish", 1),
                "fileSize": len(data),
                "attachDate": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            }
            self.attachment_data[attachment_id] = data
            return attachment_id

    # -- inspection -----------------------------------------------------------------------------------

    def log(self, entry: LoggedRequest) -> None:
        with self.lock:
            self.requests.append(entry)
            self.request_counts[f"{entry.method} {entry.path}"] += 1

    def state(self) -> Record:
        with self.lock:
            return {
                "settings": {
                    "latency_ms": self.latency_ms,
                    "fault_rate": self.fault_rate,
                    "rate_limit": self.rate_limit,
                    "slowdown_ms": self.slowdown_ms,
                    "thread_limit": self.thread_limit,
                },
                "threshold": {**self.threshold_information(), "peak": self.threshold.peak},
                "users": [
                    {"username": u.username, "permissions": sorted(str(p) for p in u.permissions)}
                    for u in self.users.values()
                ],
                "companies": list(self.tables["Companies"].values()),
                "contracts": list(self.tables["Contracts"].values()),
                "services": list(self.tables["Services"].values()),
                "contractServices": list(self.tables["ContractServices"].values()),
                "contractServiceUnits": self.unit_rows(),
                "contractServiceAdjustments": list(self.adjustments),
                "postedThrough": {str(k): v.isoformat() for k, v in self.posted_through.items()},
                "contractNotes": list(self.tables["ContractNotes"].values()),
                "contractNoteAttachments": [
                    {**a, "sha256": hashlib.sha256(self.attachment_data[a["id"]]).hexdigest()}
                    for a in self.attachments.values()
                ],
                "requests": {"total": sum(self.request_counts.values()), "by_route": dict(self.request_counts)},
            }
