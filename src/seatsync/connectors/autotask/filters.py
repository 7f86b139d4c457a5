"""Autotask query filters as plain JSON-ready dicts: ``[eq("companyID", 5), any_of(eq(...), eq(...))]``.

A filter is ``{"op", "field", "value"}``; ``and``/``or`` carry children in ``items``; the top-level list is ANDed.
``exist``/``notExist`` take no value; booleans must be true/false (Autotask refuses null).
"""

from __future__ import annotations

from typing import Any

Filter = dict[str, Any]

OPERATORS = frozenset(
    {"eq", "noteq", "gt", "gte", "lt", "lte", "beginsWith", "endsWith", "contains", "exist", "notExist", "in", "notIn"}
)
NO_VALUE = frozenset({"exist", "notExist"})


def where(field: str, op: str, value: Any = None) -> Filter:
    if op not in OPERATORS:
        raise ValueError(f"unknown Autotask filter operator {op!r} (one of {', '.join(sorted(OPERATORS))})")
    if op in NO_VALUE:
        return {"op": op, "field": field}
    if value is None:
        raise ValueError(f"the Autotask filter {field} {op} needs a value (null is refused)")
    return {"op": op, "field": field, "value": value}


def eq(field: str, value: Any) -> Filter:
    return where(field, "eq", value)


def all_of(*filters: Filter) -> Filter:
    return {"op": "and", "items": list(filters)}


def any_of(*filters: Filter) -> Filter:
    return {"op": "or", "items": list(filters)}


#: what asks for every row (Autotask refuses an empty filter list)
EVERYTHING: list[Filter] = [{"op": "gte", "field": "id", "value": 0}]
