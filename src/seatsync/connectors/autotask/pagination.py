"""Autotask paging: a query answers ``{"items": [...], "pageDetails": {..., "nextPageUrl": url|null}}``.

``nextPageUrl`` is an absolute keyset cursor; it is used verbatim, re-POSTing the query's body (a GET on the
next page of a POSTed query answers 405). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from seatsync.errors import RequestRejected

#: Autotask's largest page (``MaxRecords`` is 1–500)
PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class QueryPage:
    items: list[dict[str, Any]]
    next_page_url: str | None

    @classmethod
    def parse(cls, body: Any, *, what: str) -> QueryPage:
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise RequestRejected(f"Autotask answered the query for {what} without an items list", system="Autotask")
        details = body.get("pageDetails") or {}
        following = details.get("nextPageUrl") if isinstance(details, dict) else None
        items = [item for item in body["items"] if isinstance(item, dict)]
        # an empty page ends the query even if a cursor came with it (no loop on a confused server)
        return cls(items=items, next_page_url=str(following) if following and items else None)


def query_body(
    filters: list[dict[str, Any]], *, include_fields: list[str] | None = None, max_records: int = PAGE_SIZE
) -> dict[str, Any]:
    if not 1 <= max_records <= PAGE_SIZE:
        raise ValueError(f"MaxRecords must be 1–{PAGE_SIZE}, not {max_records}")
    body: dict[str, Any] = {"MaxRecords": max_records, "filter": filters}
    if include_fields:
        # above one page Autotask requires id among the fields
        body["IncludeFields"] = list(dict.fromkeys(["id", *include_fields]))
    return body
