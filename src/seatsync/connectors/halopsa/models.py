"""Typed views of the HaloPSA records the billing push reads. Unknown fields are ignored (they drift by version)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class HaloModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Token(HaloModel):
    access_token: str = Field(repr=False)
    token_type: str = "Bearer"  # noqa: S105 (a token kind, not a secret)
    expires_in: float = 3600.0
    scope: str = ""

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())


class Customer(HaloModel):
    """A Halo client (``/api/Client``; the scopes call them customers)."""

    id: int
    name: str = ""
    inactive: bool = False
    toplevel_id: int | None = None
    ref: str | None = None


class Item(HaloModel):
    """A Halo item (product)."""

    id: int
    name: str = ""
    description: str | None = None
    isrecurringitem: bool | None = None
    recurringprice: float | None = None
    inactive: bool = False


def _date_only(value: Any) -> Any:
    # Halo writes datetimes ("2026-01-01T00:00:00"); its "no date" is 1900-01-01
    if isinstance(value, str) and value:
        text = value[:10]
        if text.startswith("1900-01-01"):
            return None
        return text
    return value


class SoftwareLicence(HaloModel):
    """A client's subscription (software licence): the record whose absolute ``count`` the push sets."""

    id: int
    client_id: int | None = None
    site_id: int | None = None
    name: str = ""
    type: int | None = None
    count: float = 0
    start_date: date | None = None
    end_date: date | None = None
    is_active: bool | None = None
    deleted: bool | None = None
    notes: str | None = None
    item_id: int | None = None

    _dates = field_validator("start_date", "end_date", mode="before")(_date_only)

    @property
    def active(self) -> bool:
        return self.is_active is not False and not self.deleted

    @property
    def quantity(self) -> int | float:
        return int(self.count) if float(self.count).is_integer() else self.count


class NewLicence(HaloModel):
    """What "create a subscription" sends (no ``id``: HaloPSA creates)."""

    client_id: int
    name: str
    item_id: int | None = None
    start_date: date | None = None
    count: int = 0
    notes: str = ""
    site_id: int | None = None

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"client_id": self.client_id, "name": self.name, "count": self.count}
        if self.item_id is not None:
            out["item_id"] = self.item_id
        if self.start_date is not None:
            out["start_date"] = datetime.combine(self.start_date, datetime.min.time()).isoformat()
        if self.notes:
            out["notes"] = self.notes
        if self.site_id is not None:
            out["site_id"] = self.site_id
        return out
