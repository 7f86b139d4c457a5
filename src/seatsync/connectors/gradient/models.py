"""What Gradient's vendor API answers, as typed models that ignore fields they do not know."""

from __future__ import annotations

import enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class GradientStatus(enum.StrEnum):
    """The integration's status on Gradient's side (case-sensitive path values)."""

    PENDING = "pending"
    ACTIVE = "active"
    INACTIVE = "inactive"
    # older documentation also lists these two
    DISABLED = "disabled"
    ERROR = "error"


class ServiceCategory(enum.StrEnum):
    SECURITY = "security"
    BACKUP = "backup"
    PRODUCTIVITY = "productivity"
    INFRASTRUCTURE = "infrastructure"
    SERVICE_DELIVERY = "service delivery"
    CONSULTING = "consulting"
    OTHER = "other"


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class _EitherId(_Tolerant):
    """Gradient answers carry ``_id`` and/or ``id``: read whichever is there."""

    @model_validator(mode="before")
    @classmethod
    def _id_from_either(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("id") is None and data.get("_id") is not None:
            return {**data, "id": str(data["_id"])}
        return data


class Organization(_Tolerant):
    organization_id: str | None = Field(default=None, alias="organizationId")
    name: str | None = None
    vendor_id: str | None = Field(default=None, alias="vendorId")
    vendor_name: str | None = Field(default=None, alias="vendorName")
    integration_id: str | None = Field(default=None, alias="integrationId")
    status: str | None = None
    last_synced_at: str | None = Field(default=None, alias="lastSyncedAt")


class Service(_EitherId):
    """One of the vendor's services (Gradient calls them ``skus``)."""

    id: str
    name: str
    category: str | None = None
    subcategory: str | None = None
    description: str | None = None


class Vendor(_EitherId):
    id: str | None = None
    name: str | None = None
    skus: list[Service] = Field(default_factory=list)


class Account(_Tolerant):
    id: str
    name: str
    description: str | None = None
    mapping_id: str | None = Field(default=None, alias="mappingId")
    is_mapped: bool | None = Field(default=None, alias="isMapped")

    @model_validator(mode="before")
    @classmethod
    def _id_as_text(cls, data: Any) -> Any:
        # our ids are company ids (text); a build that echoes numbers still compares equal
        if isinstance(data, dict) and isinstance(data.get("id"), int | float):
            return {**data, "id": str(data["id"])}
        return data


class NewAccount(_Tolerant):
    id: str
    name: str
    description: str | None = None

    def payload(self) -> dict[str, str]:
        body = {"id": self.id, "name": self.name}
        if self.description is not None:
            body["description"] = self.description
        return body
