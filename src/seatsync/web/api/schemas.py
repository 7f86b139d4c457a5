"""Request and response bodies of the JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from seatsync.domain.periods import local_date, shown_instant
from seatsync.domain.rules import Rule


class Problem(BaseModel):
    detail: str


class SavedShown(BaseModel):
    """A mapping's "Mapping Saved" as the pages show it, in the tenant's zone: the mapper shows these right after a
    save, so that the cell reads as it does after a reload (``saved_at`` is UTC)."""

    saved_date: str | None = Field(None, description="the tenant's local date of saved_at (the mapper's column)")
    saved_shown: str | None = Field(
        None, description="saved_at in the tenant's zone, as the pages show it (2026-10-14 20:30 America/Chicago)"
    )


def saved_shown(saved_at: datetime | None, zone: ZoneInfo) -> dict[str, str | None]:
    """``SavedShown``'s fields for ``saved_at`` (None: never saved)."""
    if saved_at is None:
        return {"saved_date": None, "saved_shown": None}
    return {"saved_date": local_date(saved_at, zone), "saved_shown": shown_instant(saved_at, zone)}


class RowProblem(BaseModel):
    line: int = Field(description="the row's line in the file, or its position (1 = first) in a JSON batch")
    column: str | None
    reason: str


class ImportProblem(BaseModel):
    detail: str
    total: int
    errors: list[RowProblem]


class LoginIn(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class Me(BaseModel):
    email: str
    role: str
    tenant: str
    tenant_name: str
    via: str
    csrf_token: str | None = None


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: str = Field("viewer", pattern="^(admin|viewer)$")


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="the token itself: shown only now, store it safely")


class CompanyOut(BaseModel):
    company_id: str
    name: str
    products: list[str]
    archived: bool
    billing_rule: str | None = Field(None, description="the company's own billing rule; null: the tenant's")


class CompanyPage(BaseModel):
    total: int
    page: int
    per_page: int
    companies: list[CompanyOut]


class CompanyIn(BaseModel):
    name: str = Field(min_length=1, max_length=300)
    products: list[str] | str | None = None


class CompanyRuleIn(BaseModel):
    rule: Rule | None = Field(description="the company's own billing rule; null: count it with the tenant's rule")


class Batch(BaseModel):
    """Records in the import format (PRODUCT.md › Import formats), all accepted or none."""

    records: list[dict[str, Any]] = Field(max_length=10000)


class ImportOut(BaseModel):
    kind: str
    rows: int
    created: int
    updated: int
    unchanged: int
    new_company_ids: list[str]
    nothing_new: bool = Field(False, description="the same content as the last import of this kind: nothing read")
    summary: str


class BillableCompany(BaseModel):
    company_id: str
    name: str
    products: list[str]
    billable_users: int
    rule: str = Field(description="the rule this count was made with")


class BillableUserOut(BaseModel):
    company_id: str
    user_id: str
    email: str
    name: str
    since: datetime
    reason: str
    rule: str


class BillableOut(BaseModel):
    period: str
    rule: str = Field(description="the rule asked for, else the tenant's (a company with its own rule says so)")
    companies: list[BillableCompany]
    users: list[BillableUserOut] | None = None
