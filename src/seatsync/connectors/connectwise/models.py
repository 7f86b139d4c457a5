"""Typed views of the ConnectWise records the billing integration reads. Unknown fields are ignored."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class CWModel(BaseModel):
    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True, frozen=True)


class Reference(CWModel):
    id: int | None = None
    name: str | None = None
    identifier: str | None = None


class Company(CWModel):
    id: int
    identifier: str = ""
    name: str = ""
    status: Reference | None = None
    deleted_flag: bool | None = None
    types: list[Reference] = Field(default_factory=list)

    @property
    def deleted(self) -> bool:
        return bool(self.deleted_flag)


class Agreement(CWModel):
    id: int
    name: str = ""
    type: Reference | None = None
    company: Reference | None = None
    agreement_status: str | None = None
    cancelled_flag: bool | None = None
    date_cancelled: datetime | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    no_ending_date_flag: bool | None = None
    billing_cycle: Reference | None = None
    prorate_flag: bool | None = None
    #: a string in the contract (``2026-12-01T00:00:00Z``): read with ``domain.invoicing.parse_invoice_date``
    next_invoice_date: str | None = None

    @property
    def active(self) -> bool:
        return not self.cancelled_flag and self.agreement_status in (None, "Active")


class Addition(CWModel):
    id: int
    agreement_id: int | None = None
    product: Reference | None = None
    quantity: float | None = None
    less_included: float | None = None
    unit_price: float | None = None
    unit_cost: float | None = None
    bill_customer: str | None = None
    effective_date: datetime | None = None
    cancelled_date: datetime | None = None
    agreement_status: str | None = None
    description: str | None = None

    def cancelled_at(self, now: datetime | None = None) -> bool:
        """An addition whose ``cancelledDate`` has passed is cancelled."""
        return self.cancelled_date is not None and self.cancelled_date <= (now or datetime.now(UTC))

    @property
    def cancelled(self) -> bool:
        return self.cancelled_at()


class CatalogItem(CWModel):
    id: int
    identifier: str = ""
    description: str = ""
    customer_description: str | None = None
    inactive_flag: bool | None = None
    price: float | None = None
    cost: float | None = None
    product_class: str | None = None
    subcategory: Reference | None = None
    type: Reference | None = None


class DocumentInfo(CWModel):
    id: int
    title: str | None = None
    file_name: str | None = None
    server_file_name: str | None = None
    owner: str | None = None
    public_flag: bool | None = None
    read_only_flag: bool | None = None
    size: int | None = None
    created_on_date: str | None = None
    document_type: Reference | None = None


class SystemInfo(CWModel):
    version: str | None = None
    is_cloud: bool | None = None
    server_time_zone: str | None = None
    cloud_region: str | None = None


class CompanyInfo(BaseModel):
    """The answer of ``/login/companyinfo/{companyId}`` (PascalCase, strings)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    company_name: str = Field("", validation_alias=AliasChoices("CompanyName", "company_name"))
    codebase: str = Field(validation_alias=AliasChoices("Codebase", "codebase"))
    version_code: str | None = Field(None, validation_alias=AliasChoices("VersionCode", "version_code"))
    version_number: str | None = Field(None, validation_alias=AliasChoices("VersionNumber", "version_number"))
    company_id: str | None = Field(None, validation_alias=AliasChoices("CompanyID", "company_id"))
    is_cloud: str | bool | None = Field(None, validation_alias=AliasChoices("IsCloud", "is_cloud"))


# -- service desk ------------------------------------------------------------------------------------------------


class Board(CWModel):
    id: int
    name: str = ""
    inactive_flag: bool | None = None


class BoardStatus(CWModel):
    id: int
    name: str = ""
    board: Reference | None = None
    sort_order: int | None = None
    inactive: bool | None = None
    closed_status: bool | None = None
    default_flag: bool | None = None


class Ticket(CWModel):
    id: int
    summary: str = ""
    board: Reference | None = None
    status: Reference | None = None
    company: Reference | None = None
    closed_flag: bool | None = None


class TicketNote(CWModel):
    id: int
    ticket_id: int | None = None
    text: str = ""
    detail_description_flag: bool | None = None
    internal_analysis_flag: bool | None = None
