"""HaloPSA paging: ``pageinate=true&page_size=N&page_no=P`` (1-based) over ``{"record_count": N, "<key>": [...]}``.

Pure: no I/O. The client asks ``Paging`` for each page's parameters and whether another page follows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: the list key of each entity's wrapper (``GET /api/Client`` -> ``{"record_count": 3, "clients": [...]}``)
LIST_KEYS = {"Client": "clients", "Item": "items", "SoftwareLicence": "licences"}
#: HaloPSA documents "Maximum size: 100" on some endpoints; larger pages are not relied on
MAX_PAGE_SIZE = 100


class PageFormatError(ValueError):
    """A list answer that is not a list wrapper."""


@dataclass(frozen=True, slots=True)
class Page:
    records: list[dict[str, Any]]
    record_count: int
    page_no: int


@dataclass(frozen=True, slots=True)
class Paging:
    """How to ask for page ``page_no`` of ``entity`` and whether there is a next one."""

    entity: str
    page_size: int = MAX_PAGE_SIZE

    def __post_init__(self) -> None:
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")

    @property
    def key(self) -> str:
        return LIST_KEYS.get(self.entity, self.entity.lower() + "s")

    def params(self, page_no: int) -> dict[str, str]:
        return {"pageinate": "true", "page_size": str(self.page_size), "page_no": str(page_no)}

    def pages(self, record_count: int) -> int:
        return max(1, math.ceil(record_count / self.page_size))

    def parse(self, body: Any, page_no: int) -> Page:
        """Unwrap one answer. A bare list (an unpaged answer) is taken whole."""
        if isinstance(body, list):
            return Page([r for r in body if isinstance(r, dict)], len(body), page_no)
        if not isinstance(body, dict):
            raise PageFormatError(f"expected a list wrapper for {self.entity}, got {type(body).__name__}")
        rows = body.get(self.key)
        if rows is None:
            # a version that names the key differently: the one list in the wrapper
            lists = [v for v in body.values() if isinstance(v, list)]
            if len(lists) != 1:
                raise PageFormatError(f"the {self.entity} list has no {self.key!r} key")
            rows = lists[0]
        if not isinstance(rows, list):
            raise PageFormatError(f"{self.key!r} of the {self.entity} list is not a list")
        count = body.get("record_count")
        record_count = int(count) if isinstance(count, int | float) and not isinstance(count, bool) else len(rows)
        return Page([r for r in rows if isinstance(r, dict)], record_count, page_no)

    def next_page(self, page: Page) -> int | None:
        """The next page number, or None after the last (an empty page ends it too: never loop forever)."""
        if not page.records or len(page.records) < self.page_size:
            return None
        if page.page_no >= self.pages(page.record_count):
            return None
        return page.page_no + 1
