"""The HaloPSA sandbox's world: clients, items, subscriptions (software licences), API applications with their
login agents, tokens, the rolling rate-limit window and faults. Thread-safe (one lock).

    sandbox = HaloPSASandbox(seed=None)
    client = sandbox.add_client("Acme")
    licence = sandbox.add_licence(client["id"], name="Acme SAT", count=3)

Everything the HTTP app does is a method here, so tests and the demo can drive it directly too.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from seatsync.connectors.halopsa.errors import Permission
from seatsync.sandboxes.halopsa import seed as demo

Record = dict[str, Any]

TOKEN_LIFETIME = 3600.0
#: fields of a subscription a POST may set (others are ignored, as HaloPSA ignores unknown fields)
LICENCE_FIELDS = (
    "client_id",
    "site_id",
    "name",
    "type",
    "count",
    "start_date",
    "end_date",
    "is_active",
    "notes",
    "item_id",
    "billing_cycle",
    "price",
    "vendor",
    "autorenew",
)
#: what each permission asks of the agent: (area, lowest access level that grants it)
_AGENT_NEEDS = {
    Permission.READ_CUSTOMERS: ("customers", "read"),
    Permission.READ_ITEMS: ("items", "read"),
    Permission.READ_LICENCES: ("softwarelicensing", "read"),
    Permission.EDIT_LICENCES: ("softwarelicensing", "modify"),
}
_LEVELS = {"none": 0, "read": 1, "modify": 2}


class HaloError(Exception):
    """An answer other than success, with the body shape HaloPSA uses for that kind of refusal."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body


def class_error(status: int, message: str, class_name: str = "System.Exception") -> HaloError:
    return HaloError(status, {"ClassName": class_name, "Message": message})


def result_error(status: int, message: str, code: int = 1) -> HaloError:
    return HaloError(status, {"resultCode": code, "errorMessage": message})


def oauth_error(code: str, description: str) -> HaloError:
    return HaloError(400, {"error": code, "error_description": description})


@dataclass(slots=True)
class Application:
    client_id: str
    secret: str
    scopes: frozenset[str]
    agent: dict[str, str]
    agent_name: str = "API Agent"

    def scope_allows(self, scopes: frozenset[str], permission: Permission) -> bool:
        return "all" in scopes or "all:standard" in scopes or permission.value in scopes

    def agent_allows(self, permission: Permission) -> bool:
        area, level = _AGENT_NEEDS[permission]
        return _LEVELS.get(self.agent.get(area, "none"), 0) >= _LEVELS[level]


@dataclass(slots=True)
class IssuedToken:
    application: Application
    scopes: frozenset[str]
    expires_at: float


@dataclass(slots=True)
class Change:
    """One effective change of a subscription field (posting the same value again is not a change)."""

    licence_id: int
    field: str
    old: Any
    new: Any
    source: str  # "api" or "hand"
    at: str


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class HaloPSASandbox:
    def __init__(
        self,
        *,
        seed: str | None = "demo",
        halo_tenant: str = "demo",
        latency_ms: float = 0.0,
        fault_rate: float = 0.0,
        rate_limit: int | None = 300,
        rate_window_seconds: float = 300.0,
        token_lifetime: float = TOKEN_LIFETIME,
        random_seed: int | None = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lock = threading.RLock()
        self.halo_tenant = halo_tenant
        self.latency_ms = latency_ms
        self.fault_rate = fault_rate
        #: requests admitted per rolling ``rate_window_seconds`` (hosted Halo: 300 per 5 minutes); None = no limit
        self.rate_limit = rate_limit
        self.rate_window_seconds = rate_window_seconds
        self.token_lifetime = token_lifetime
        self.clock = clock
        self.rng = random.Random(random_seed)
        self.applications: dict[str, Application] = {}
        self.tokens: dict[str, IssuedToken] = {}
        self.clients: dict[int, Record] = {}
        self.items: dict[int, Record] = {}
        self.licences: dict[int, Record] = {}
        self.changes: list[Change] = []
        self.request_counts: Counter[str] = Counter()
        self.status_counts: Counter[int] = Counter()
        self.fault_counts: Counter[str] = Counter()
        #: arrival instants of every admitted API request (the window, and the benchmark's peak)
        self.arrivals: list[float] = []
        self._window: deque[float] = deque()
        self.rate_limited = 0
        self.tokens_issued = 0
        self._next_ids = {"client": 1, "licence": 1, "item": 1}
        self.reset(seed)

    # -- set-up -----------------------------------------------------------------------------------------

    def reset(self, seed: str | None = "demo") -> None:
        with self.lock:
            for store in (self.applications, self.tokens, self.clients, self.items, self.licences):
                store.clear()
            self.changes.clear()
            self.request_counts.clear()
            self.status_counts.clear()
            self.fault_counts.clear()
            self.arrivals.clear()
            self._window.clear()
            self.rate_limited = self.tokens_issued = 0
            self._next_ids = {"client": 1, "licence": 1, "item": 1}
            for client_id, (secret, scopes, agent) in demo.DEMO_APPLICATIONS.items():
                self.add_application(client_id, secret, scopes=scopes, agent=agent)
            for item_id, name, price in demo.DEMO_ITEMS:
                self.add_item(name, id=item_id, price=price)
            if seed == "demo":
                self._seed_demo()
            elif seed not in (None, "", "empty"):
                raise ValueError(f"unknown sandbox seed {seed!r}: use 'demo' or 'empty'")

    def _seed_demo(self) -> None:
        self._next_ids.update(client=demo.FIRST_CLIENT_ID, licence=demo.FIRST_LICENCE_ID)
        for index, (identifier, name, deleted) in enumerate(demo.DEMO_COMPANIES):
            client = self.add_client(name, ref=identifier, inactive=deleted)
            if deleted or identifier in demo.NO_SUBSCRIPTION:
                continue
            if identifier == demo.TWO_SUBSCRIPTIONS:
                self.add_licence(
                    client["id"], name=f"{name} - Training", item_id=demo.TRAINING_ITEM, count=demo.demo_quantity(index)
                )
                self.add_licence(
                    client["id"], name=f"{name} - Phishing", item_id=demo.PHISHING_ITEM, count=demo.demo_quantity(index)
                )
                continue
            self.add_licence(
                client["id"],
                name=f"{name} - Security Awareness",
                item_id=demo.TRAINING_ITEM,
                count=demo.demo_quantity(index),
            )

    def _new_id(self, kind: str, wanted: int | None) -> int:
        if wanted is not None:
            self._next_ids[kind] = max(self._next_ids[kind], wanted + 1)
            return wanted
        value = self._next_ids[kind]
        self._next_ids[kind] = value + 1
        return value

    def add_application(
        self, client_id: str, secret: str, *, scopes: str = "all", agent: dict[str, str] | None = None
    ) -> Application:
        with self.lock:
            app = Application(client_id, secret, frozenset(scopes.split()), dict(agent or demo.FULL_AGENT))
            self.applications[client_id] = app
            return app

    def add_client(self, name: str, *, id: int | None = None, ref: str | None = None, inactive: bool = False) -> Record:
        with self.lock:
            client_id = self._new_id("client", id)
            record: Record = {
                "id": client_id,
                "name": name,
                "inactive": inactive,
                "toplevel_id": 1,
                "toplevel_name": "Clients",
                "main_site_id": client_id * 10,
                "ref": ref or f"C{client_id}",
                "accountsid": "",
            }
            self.clients[client_id] = record
            return record

    def add_clients(self, count: int, *, prefix: str = "Client") -> list[Record]:
        with self.lock:
            return [self.add_client(f"{prefix} {n:05d}") for n in range(1, count + 1)]

    def add_item(self, name: str, *, id: int | None = None, price: float = 1.0) -> Record:
        with self.lock:
            item_id = self._new_id("item", id)
            record: Record = {
                "id": item_id,
                "name": name,
                "description": name,
                "baseprice": price,
                "costprice": round(price / 2, 2),
                "isrecurringitem": True,
                "recurringprice": price,
                "recurringcost": round(price / 2, 2),
                "inactive": False,
            }
            self.items[item_id] = record
            return record

    def add_licence(
        self,
        client_id: int,
        *,
        name: str,
        count: float = 0,
        item_id: int | None = None,
        id: int | None = None,
        start_date: str = "2025-01-01T00:00:00",
        notes: str = "",
        is_active: bool = True,
    ) -> Record:
        with self.lock:
            if client_id not in self.clients:
                raise KeyError(f"no client {client_id}")
            licence_id = self._new_id("licence", id)
            record: Record = {
                "id": licence_id,
                "client_id": client_id,
                "client_name": self.clients[client_id]["name"],
                "site_id": self.clients[client_id]["main_site_id"],
                "name": name,
                "type": 0,
                "count": count,
                "licences_in_use": 0,
                "start_date": start_date,
                "end_date": None,
                "is_active": is_active,
                "status": "Active" if is_active else "Inactive",
                "billing_cycle": "Monthly",
                "autorenew": True,
                "deleted": False,
                "notes": notes,
                "item_id": item_id,
                "linked_item": self.items[item_id]["name"] if item_id in self.items else None,
                "lastupdated": _now_text(),
            }
            self.licences[licence_id] = record
            return record

    def configure(
        self,
        *,
        latency_ms: float | None = None,
        fault_rate: float | None = None,
        rate_limit: int | None = None,
        rate_window_seconds: float | None = None,
        token_lifetime: float | None = None,
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
                if rate_window_seconds <= 0:
                    raise ValueError("rate_window_seconds must be positive")
                self.rate_window_seconds = rate_window_seconds
            if token_lifetime is not None:
                self.token_lifetime = token_lifetime

    # -- the token endpoint -----------------------------------------------------------------------------------

    def issue_token(self, form: dict[str, str], tenant: str | None) -> Record:
        """``POST /auth/token``: client credentials; the scopes asked for must be the application's."""
        if form.get("grant_type") != "client_credentials":
            raise oauth_error("unsupported_grant_type", "only client_credentials is supported")
        if tenant is not None and tenant != self.halo_tenant:
            raise oauth_error("invalid_request", f"unknown tenant {tenant!r}")
        with self.lock:
            app = self.applications.get(form.get("client_id", ""))
            if app is None or not secrets.compare_digest(app.secret, form.get("client_secret", "")):
                raise oauth_error("invalid_client", "the client id or secret is not valid")
            asked = frozenset(form.get("scope", "").split())
            if asked and not asked <= app.scopes:
                raise oauth_error("invalid_scope", "the application is not allowed every scope asked for")
            granted = asked or app.scopes
            value = secrets.token_urlsafe(24)
            self.tokens[value] = IssuedToken(app, granted, self.clock() + self.token_lifetime)
            self.tokens_issued += 1
            return {
                "token_type": "Bearer",
                "access_token": value,
                "expires_in": int(self.token_lifetime),
                "scope": " ".join(sorted(granted)),
                "refresh_token": "",
                "id_token": "",
            }

    def expire_tokens(self) -> int:
        """Every token issued so far expires now (a test of the client's 401 handling)."""
        with self.lock:
            for token in self.tokens.values():
                token.expires_at = self.clock() - 1
            return len(self.tokens)

    def authenticate(self, header: str | None) -> IssuedToken:
        denied = HaloError(401, {"Message": "Authorization has been denied for this request."})
        if not header or not header.lower().startswith("bearer "):
            raise denied
        with self.lock:
            token = self.tokens.get(header[7:].strip())
            if token is None or token.expires_at <= self.clock():
                raise denied
            return token

    @staticmethod
    def require(token: IssuedToken, permission: Permission) -> None:
        """Application scope AND agent rights: either alone refuses."""
        app = token.application
        if not app.scope_allows(token.scopes, permission):
            raise HaloError(403, f"The API application does not have the {permission.value} permission")
        if not app.agent_allows(permission):
            area, level = _AGENT_NEEDS[permission]
            raise class_error(
                403,
                f"Agent '{app.agent_name}' does not have {level} access to {area}",
                "Halo.Api.Exceptions.ForbiddenException",
            )

    # -- pacing and faults ------------------------------------------------------------------------------------------

    def admit(self) -> bool:
        """Count one API request in the rolling window; False (429) when the window is full."""
        with self.lock:
            now = self.clock()
            if self.rate_limit is not None:
                while self._window and self._window[0] <= now - self.rate_window_seconds:
                    self._window.popleft()
                if len(self._window) >= self.rate_limit:
                    self.rate_limited += 1
                    return False
                self._window.append(now)
            self.arrivals.append(now)
            return True

    @property
    def rate_limit_message(self) -> str:
        minutes = self.rate_window_seconds / 60
        return f"Rate Limit Reached - {self.rate_limit} Requests per rolling {minutes:g} minute window"

    def draw_fault(self) -> str | None:
        with self.lock:
            if self.fault_rate <= 0 or self.rng.random() >= self.fault_rate:
                return None
            fault = self.rng.choice(("error", "drop"))
            self.fault_counts[fault] += 1
            return fault

    def log(self, route: str, status: int) -> None:
        with self.lock:
            self.request_counts[route] += 1
            self.status_counts[status] += 1

    def peak_in_window(self, window: float | None = None) -> int:
        """The most API requests that arrived within any ``window`` seconds (default: the rate window)."""
        span = window if window is not None else self.rate_window_seconds
        with self.lock:
            times = list(self.arrivals)
        best, start = 0, 0
        for end, at in enumerate(times):
            while times[start] <= at - span:
                start += 1
            best = max(best, end - start + 1)
        return best

    # -- the API -------------------------------------------------------------------------------------------------

    def client(self, client_id: int) -> Record:
        with self.lock:
            record = self.clients.get(client_id)
        if record is None:
            raise class_error(404, f"No Client found with id {client_id}")
        return record

    def item(self, item_id: int) -> Record:
        with self.lock:
            record = self.items.get(item_id)
        if record is None:
            raise class_error(404, f"No Item found with id {item_id}")
        return record

    def licence(self, licence_id: int) -> Record:
        with self.lock:
            record = self.licences.get(licence_id)
        if record is None or record["deleted"]:
            raise HaloError(404, {"Message": f"No SoftwareLicence found with id {licence_id}"})
        return record

    def upsert_licences(self, body: Any, *, source: str = "api") -> tuple[list[Record], bool]:
        """``POST /api/SoftwareLicence``: an element with ``id`` updates it, one without creates. Every element
        is checked before any is applied; HaloPSA only updates what changed. Returns (saved, created any)."""
        if not isinstance(body, list):
            raise class_error(
                400, "The request body must be a JSON array of SoftwareLicence", "System.ArgumentException"
            )
        checked: list[tuple[Record | None, Record]] = []
        with self.lock:
            for position, element in enumerate(body):
                if not isinstance(element, dict):
                    raise HaloError(400, f"Element {position} is not a SoftwareLicence object")
                fields = {k: v for k, v in element.items() if k in LICENCE_FIELDS}
                existing: Record | None = None
                if element.get("id") not in (None, 0, -1):
                    raw_id = element["id"]
                    if not isinstance(raw_id, int) or isinstance(raw_id, bool):
                        raise HaloError(400, f"Element {position}: id must be a whole number")
                    existing = self.licences.get(raw_id)
                    if existing is None or existing["deleted"]:
                        raise result_error(400, f"SoftwareLicence {raw_id} does not exist", code=3)
                elif not str(fields.get("name") or "").strip():
                    raise class_error(400, "Name is required", "Halo.Api.Exceptions.ValidationException")
                if "count" in fields and (not _is_number(fields["count"]) or fields["count"] < 0):
                    raise HaloError(400, f"Element {position}: count must be a number of 0 or more")
                client_id = fields.get("client_id", existing["client_id"] if existing else None)
                if client_id not in self.clients or self.clients[client_id]["inactive"]:
                    raise result_error(400, f"Client {client_id} does not exist or is inactive", code=2)
                if fields.get("item_id") is not None and fields["item_id"] not in self.items:
                    raise result_error(400, f"Item {fields['item_id']} does not exist", code=4)
                checked.append((existing, fields))
            saved: list[Record] = []
            created = False
            for existing, fields in checked:
                if existing is None:
                    record = self.add_licence(
                        fields["client_id"],
                        name=str(fields["name"]).strip(),
                        count=fields.get("count", 0),
                        item_id=fields.get("item_id"),
                        start_date=fields.get("start_date") or "2025-01-01T00:00:00",
                        notes=str(fields.get("notes") or ""),
                    )
                    self.changes.append(Change(record["id"], "created", None, record["count"], source, _now_text()))
                    created = True
                    saved.append(dict(record))
                    continue
                changed = False
                for name, value in fields.items():
                    if existing.get(name) != value:
                        self.changes.append(
                            Change(existing["id"], name, existing.get(name), value, source, _now_text())
                        )
                        existing[name] = value
                        changed = True
                if changed:
                    existing["lastupdated"] = _now_text()
                saved.append(dict(existing))
            return saved, created

    def set_count_by_hand(self, licence_id: int, count: float) -> Record:
        """Someone edits the subscription in HaloPSA's UI (drift tests)."""
        saved, _ = self.upsert_licences([{"id": licence_id, "count": count}], source="hand")
        return saved[0]

    # -- inspection ----------------------------------------------------------------------------------------------

    def clear_log(self) -> None:
        """Forget the requests counted so far (not the rolling window): a benchmark measures each push alone."""
        with self.lock:
            self.request_counts.clear()
            self.status_counts.clear()
            self.fault_counts.clear()
            self.arrivals.clear()
            self.rate_limited = 0

    def changes_of(self, licence_id: int, field: str = "count") -> list[Change]:
        with self.lock:
            return [c for c in self.changes if c.licence_id == licence_id and c.field == field]

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "total": sum(self.request_counts.values()),
                "by_route": dict(self.request_counts),
                "by_status": {str(k): v for k, v in sorted(self.status_counts.items())},
                "faults": dict(self.fault_counts),
                "rate_limited": self.rate_limited,
                "tokens_issued": self.tokens_issued,
                "peak_in_window": self.peak_in_window(),
                "rate_limit": self.rate_limit,
                "rate_window_seconds": self.rate_window_seconds,
            }

    def state(self) -> dict[str, Any]:
        """Everything, JSON-able (``GET /_sandbox/state``). Secrets and tokens are left out."""
        with self.lock:
            return {
                "halo_tenant": self.halo_tenant,
                "settings": {
                    "latency_ms": self.latency_ms,
                    "fault_rate": self.fault_rate,
                    "rate_limit": self.rate_limit,
                    "rate_window_seconds": self.rate_window_seconds,
                    "token_lifetime": self.token_lifetime,
                },
                "applications": [
                    {
                        "client_id": a.client_id,
                        "scopes": sorted(a.scopes),
                        "agent": {"name": a.agent_name, "access": dict(a.agent)},
                    }
                    for a in self.applications.values()
                ],
                "clients": list(self.clients.values()),
                "items": list(self.items.values()),
                "licences": [dict(r) for r in self.licences.values()],
                "changes": [
                    {
                        "licence_id": c.licence_id,
                        "field": c.field,
                        "old": c.old,
                        "new": c.new,
                        "source": c.source,
                        "at": c.at,
                    }
                    for c in self.changes
                ],
                "requests": self.stats(),
            }
