"""Helpers to write import files in tests."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

from sqlalchemy import Engine

from seatsync.db.engine import transaction
from seatsync.db.models import Tenant
from seatsync.services import tenants
from seatsync.services.imports import ImportKind, ImportResult, import_file

USERS_HEADER = "user_id,company_id,email,name,status,at"


def csv_bytes(header: str, rows: Iterable[Sequence[str] | str]) -> bytes:
    lines = [header] + [r if isinstance(r, str) else ",".join(r) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def make_tenant(engine: Engine, name: str = "Acme MSP", tz: str = "UTC", rule: str = "active") -> Tenant:
    with transaction(engine) as session:
        return tenants.create_tenant(session, name=name, time_zone_name=tz, rule=rule)


def load(engine: Engine, tenant: Tenant, kind: str, data: bytes, source: str = "file.csv") -> ImportResult:
    with transaction(engine) as session:
        return import_file(session, tenant=tenant, kind=ImportKind(kind), stream=io.BytesIO(data), source=source)


def companies(engine: Engine, tenant: Tenant, *ids: str) -> None:
    load(engine, tenant, "companies", csv_bytes("company_id,name", [f"{i},Company {i.upper()}" for i in ids]))


def status(user: str, company: str, state: str, at: str) -> str:
    return f"{user},{company},{user}@example.com,User {user},{state},{at}"
