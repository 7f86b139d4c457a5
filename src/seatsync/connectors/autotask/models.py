"""What the Autotask client returns (pydantic models, unknown fields ignored, API spelling as aliases)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Contracts.contractType of a recurring-service contract (the only kind with contract services)
RECURRING_SERVICE = 7
#: Contracts.status of an active contract
ACTIVE = 1


class AutotaskModel(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


def _day(value: object) -> object:
    """Autotask sends dates as ``2026-05-01T00:00:00`` (or with a zone): the calendar day is what counts."""
    if isinstance(value, str) and "T" in value:
        return value.split("T", 1)[0]
    if isinstance(value, datetime):
        return value.date()
    return value


class ZoneInformation(AutotaskModel):
    zone_name: str = Field(default="", alias="zoneName")
    url: str
    web_url: str = Field(default="", alias="webUrl")
    ci: int | None = None

    @property
    def api_base(self) -> str:
        """``url`` ends in ``/``; the REST API lives under ``V1.0``."""
        return self.url.rstrip("/") + "/V1.0"


class ThresholdInformation(AutotaskModel):
    external_request_threshold: int = Field(alias="externalRequestThreshold")
    request_threshold_timeframe: int = Field(default=60, alias="requestThresholdTimeframe")
    current_timeframe_request_count: int = Field(alias="currentTimeframeRequestCount")

    @property
    def used_share(self) -> float:
        return self.current_timeframe_request_count / max(1, self.external_request_threshold)


class Company(AutotaskModel):
    id: int
    company_name: str = Field(default="", alias="companyName")
    company_type: int | None = Field(default=None, alias="companyType")
    is_active: bool = Field(default=True, alias="isActive")
    parent_company_id: int | None = Field(default=None, alias="parentCompanyID")


class Contract(AutotaskModel):
    id: int
    company_id: int = Field(alias="companyID")
    contract_name: str = Field(default="", alias="contractName")
    contract_number: str | None = Field(default=None, alias="contractNumber")
    contract_type: int = Field(alias="contractType")
    status: int = ACTIVE
    start_date: date | None = Field(default=None, alias="startDate")
    end_date: date | None = Field(default=None, alias="endDate")

    _days = field_validator("start_date", "end_date", mode="before")(_day)

    @property
    def recurring_service(self) -> bool:
        return self.contract_type == RECURRING_SERVICE

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    def covers(self, day: date) -> bool:
        return (self.start_date is None or self.start_date <= day) and (self.end_date is None or day <= self.end_date)


class Service(AutotaskModel):
    id: int
    name: str = ""
    unit_price: float | None = Field(default=None, alias="unitPrice")
    is_active: bool = Field(default=True, alias="isActive")


class ContractService(AutotaskModel):
    id: int
    contract_id: int = Field(alias="contractID")
    service_id: int = Field(alias="serviceID")
    unit_price: float | None = Field(default=None, alias="unitPrice")
    invoice_description: str | None = Field(default=None, alias="invoiceDescription")


class ContractServiceUnit(AutotaskModel):
    id: int
    contract_id: int = Field(alias="contractID")
    contract_service_id: int = Field(alias="contractServiceID")
    service_id: int = Field(alias="serviceID")
    start_date: date = Field(alias="startDate")
    end_date: date = Field(alias="endDate")
    units: int = 0
    approve_and_post_date: date | None = Field(default=None, alias="approveAndPostDate")

    _days = field_validator("start_date", "end_date", "approve_and_post_date", mode="before")(_day)

    @property
    def posted(self) -> bool:
        return self.approve_and_post_date is not None


class ContractNote(AutotaskModel):
    id: int
    contract_id: int = Field(alias="contractID")
    title: str = ""
    description: str | None = None


class NoteAttachment(AutotaskModel):
    id: int
    title: str = ""
    full_path: str = Field(default="", alias="fullPath")
    file_size: int | None = Field(default=None, alias="fileSize")
    contract_note_id: int | None = Field(default=None, alias="contractNoteID")
