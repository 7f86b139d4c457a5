"""Build ConnectWise ``conditions`` strings safely (pure; no HTTP).

Strings are double-quoted with ``\\`` and ``"`` escaped by a backslash, so a company called
``Smith & "Sons" *`` is matched literally by ``=``. Booleans are ``True``/``False``, instants are
``[2026-10-01T00:00:00Z]``, numbers are bare. ``like`` keeps its ``*``/``%`` wildcards: that is the caller's intent.

    where("company/id", "=", 5) & where("cancelledFlag", "=", False)
    -> 'company/id=5 AND cancelledFlag=False'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

Value = str | int | float | bool | datetime | date | None
Operator = Literal["=", "!=", "<", "<=", ">", ">=", "like", "not like", "contains", "not contains", "in", "not in"]

_OPERATORS = {"=", "!=", "<", "<=", ">", ">=", "like", "not like", "contains", "not contains", "in", "not in"}
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")


def quote(value: str) -> str:
    """A conditions string literal: ``Bob "the" \\ Builder`` -> ``"Bob \\"the\\" \\\\ Builder"``."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def literal(value: Value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("conditions need time-zone-aware datetimes")
        return "[" + value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") + "]"
    if isinstance(value, date):
        return "[" + value.isoformat() + "T00:00:00Z]"
    return quote(value)


@dataclass(frozen=True, slots=True)
class Condition:
    text: str
    #: the top-level connective, so AND can parenthesise an OR operand (AND binds tighter)
    kind: Literal["atom", "and", "or"] = "atom"

    def __and__(self, other: Condition) -> Condition:
        return Condition(f"{self._operand()} AND {other._operand()}", "and")

    def __or__(self, other: Condition) -> Condition:
        return Condition(f"{self.text} OR {other.text}", "or")

    def __invert__(self) -> Condition:
        return Condition(f"not ({self.text})")

    def _operand(self) -> str:
        return f"({self.text})" if self.kind == "or" else self.text

    def __str__(self) -> str:
        return self.text


def where(field: str, op: Operator, value: Value | Iterable[Value]) -> Condition:
    if not _FIELD.match(field):
        raise ValueError(f"{field!r} is not a ConnectWise field path (letters, digits, _ and /)")
    if op not in _OPERATORS:
        raise ValueError(f"unknown conditions operator {op!r}")
    if op in ("in", "not in"):
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise ValueError(f"{op!r} takes a list of values")
        items = [literal(v) for v in value]
        if not items:
            raise ValueError(f"{op!r} needs at least one value")
        return Condition(f"{field} {op} ({','.join(items)})")
    if isinstance(value, Iterable) and not isinstance(value, str):
        raise ValueError(f"{op!r} takes a single value")
    if op in ("like", "not like", "contains", "not contains"):
        if not isinstance(value, str):
            raise ValueError(f"{op!r} takes a string")
        return Condition(f"{field} {op} {literal(value)}")
    return Condition(f"{field}{op}{literal(value)}")


def all_of(*conditions: Condition | None) -> Condition | None:
    present = [c for c in conditions if c is not None]
    if not present:
        return None
    result = present[0]
    for c in present[1:]:
        result = result & c
    return result
