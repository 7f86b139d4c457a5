"""The sandbox's Autotask query language: filters (with and/or nesting), case-insensitive field names,
IncludeFields and keyset paging. Pure functions over plain records."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from seatsync.connectors.autotask.filters import NO_VALUE, OPERATORS

Record = dict[str, Any]
Predicate = Callable[[Record], bool]
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


class QueryError(ValueError):
    """A query Autotask refuses (the message is Autotask-like)."""


def field_names(records: list[Record], known: set[str]) -> dict[str, str]:
    """casefolded name -> the API's spelling."""
    names = {name.casefold(): name for name in known}
    for record in records[:1]:
        names.update({name.casefold(): name for name in record})
    return names


def _comparable(value: Any) -> Any:
    if isinstance(value, str):
        if _DATE.match(value):
            day = value[:19]
            return day if len(day) == 19 else day[:10] + "T00:00:00"
        return value.casefold()
    return value


def _leaf(condition: Record, names: dict[str, str], entity: str) -> Predicate:
    op = condition.get("op")
    raw_field = condition.get("field")
    if condition.get("udf"):
        raise QueryError("user-defined fields are not simulated by the sandbox")
    if not isinstance(raw_field, str) or raw_field.casefold() not in names:
        raise QueryError(f"Unable to find {raw_field} in the {entity} Entity.")
    field = names[raw_field.casefold()]
    if op not in OPERATORS:
        raise QueryError(f"Invalid filter operator: {op}")
    if op in NO_VALUE:
        if op == "exist":
            return lambda r: r.get(field) not in (None, "")
        return lambda r: r.get(field) in (None, "")
    if "value" not in condition or condition["value"] is None:
        raise QueryError(f"A value is required for the {op} filter on {field}; null is not allowed.")
    value = condition["value"]
    if op in ("in", "notIn"):
        if not isinstance(value, list):
            raise QueryError(f"The {op} filter on {field} needs an array value.")
        wanted = {_comparable(v) for v in value}
        if op == "in":
            return lambda r: _comparable(r.get(field)) in wanted
        return lambda r: _comparable(r.get(field)) not in wanted
    expected = _comparable(value)

    def test(record: Record) -> bool:
        actual = _comparable(record.get(field))
        if op == "eq":
            return bool(actual == expected)
        if op == "noteq":
            return bool(actual != expected)
        if actual is None:
            return False
        if op in ("beginsWith", "endsWith", "contains"):
            text, part = str(actual), str(expected)
            return (
                text.startswith(part)
                if op == "beginsWith"
                else text.endswith(part)
                if op == "endsWith"
                else part in text
            )
        try:
            if op == "gt":
                return bool(actual > expected)
            if op == "gte":
                return bool(actual >= expected)
            if op == "lt":
                return bool(actual < expected)
            return bool(actual <= expected)
        except TypeError:
            return False

    return test


def compile_filter(conditions: Any, names: dict[str, str], entity: str) -> Predicate:
    """The top-level list is ANDed; ``and``/``or`` nodes carry ``items``."""
    if not isinstance(conditions, list) or not conditions:
        raise QueryError("A query requires at least one filter.")
    parts = [_node(c, names, entity) for c in conditions]
    return lambda r: all(p(r) for p in parts)


def _node(condition: Any, names: dict[str, str], entity: str) -> Predicate:
    if not isinstance(condition, dict):
        raise QueryError("Each filter must be an object with op, field and value.")
    op = condition.get("op")
    if op in ("and", "or"):
        items = condition.get("items")
        if not isinstance(items, list) or not items:
            raise QueryError(f"The {op} filter needs items.")
        parts = [_node(c, names, entity) for c in items]
        if op == "and":
            return lambda r: all(p(r) for p in parts)
        return lambda r: any(p(r) for p in parts)
    return _leaf(condition, names, entity)


def include(record: Record, fields: list[str] | None, names: dict[str, str]) -> Record:
    if not fields:
        return record
    wanted = {names.get(f.casefold(), f) for f in fields}
    return {key: value for key, value in record.items() if key in wanted}


def top_level_eq(conditions: Any, field: str) -> Any:
    """The value of a top-level ``eq`` on ``field`` (case-insensitive), to narrow a large derived table."""
    if isinstance(conditions, list):
        for condition in conditions:
            if isinstance(condition, dict) and condition.get("op") == "eq":
                name = condition.get("field")
                if isinstance(name, str) and name.casefold() == field.casefold():
                    return condition.get("value")
    return None
