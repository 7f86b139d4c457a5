"""The ConnectWise calls the mapping, auto-map and push code make (``ConnectWiseClient`` has them all); with the
connector, so that services and targets depend on it and not on each other.

A Protocol, so unit tests can hand in a small fake and the real client needs no adapter.
"""

from __future__ import annotations

from typing import Any, Protocol

from seatsync.connectors.connectwise.models import Addition, Agreement, Company, DocumentInfo


class ConnectWiseApi(Protocol):
    def get_company(self, company_id: int) -> Company: ...

    def list_companies(self, conditions: Any = None, fields: list[str] | str | None = None) -> list[Company]: ...

    def get_agreement(self, agreement_id: int) -> Agreement: ...

    def list_agreements(
        self, company_id: int | None = None, conditions: Any = None, fields: list[str] | str | None = None
    ) -> list[Agreement]: ...

    def get_addition(self, agreement_id: int, addition_id: int) -> Addition: ...

    def list_additions(self, agreement_id: int, conditions: Any = None) -> list[Addition]: ...

    def set_addition_quantity(self, agreement_id: int, addition_id: int, quantity: float) -> Addition: ...

    def list_documents(self, record_type: str, record_id: int) -> list[DocumentInfo]: ...

    def upload_document(
        self,
        record_type: str,
        record_id: int,
        title: str,
        filename: str,
        content: bytes,
        *,
        private: bool = True,
        content_type: str | None = None,
    ) -> DocumentInfo: ...

    def close(self) -> None: ...


__all__ = ["ConnectWiseApi"]
