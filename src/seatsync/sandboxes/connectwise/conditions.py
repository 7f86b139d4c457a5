"""The ConnectWise ``conditions`` grammar, parsed and evaluated against plain dict records (the sandbox's side).

    expr       := and_expr (OR and_expr)*
    and_expr   := unary (AND unary)*
    unary      := NOT unary | "(" expr ")" | comparison
    comparison := field [NOT] op value        op: = != < <= > >= like contains in
    value      := "string" | number | True | False | null | [date] | "(" value ("," value)* ")"

Keywords are case-insensitive; string comparison is case-insensitive (ConnectWise's SQL collation);
``like`` takes ``*`` or ``%`` as wildcards; a field path with ``/`` reaches into a nested object.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Record = dict[str, Any]
Predicate = Callable[[Record], bool]


class ConditionsError(ValueError):
    """The conditions string is not valid; the message says where."""


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # str num date word op ( ) ,
    value: Any
    pos: int


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_./]*")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_KEYWORDS = {"and", "or", "not", "like", "contains", "in", "true", "false", "null"}


def parse_date(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "(),":
            tokens.append(Token(ch, ch, i))
            i += 1
        elif text.startswith(("!=", "<=", ">="), i):
            tokens.append(Token("op", text[i : i + 2], i))
            i += 2
        elif ch in "=<>":
            tokens.append(Token("op", ch, i))
            i += 1
        elif ch == '"':
            start, i, chars = i, i + 1, []
            while True:
                if i >= n:
                    raise ConditionsError(f"unterminated string starting at position {start}")
                if text[i] == "\\" and i + 1 < n:
                    chars.append(text[i + 1])
                    i += 2
                elif text[i] == '"':
                    i += 1
                    break
                else:
                    chars.append(text[i])
                    i += 1
            tokens.append(Token("str", "".join(chars), start))
        elif ch == "[":
            end = text.find("]", i)
            if end < 0:
                raise ConditionsError(f"unterminated date starting at position {i}")
            try:
                tokens.append(Token("date", parse_date(text[i + 1 : end]), i))
            except ValueError:
                raise ConditionsError(f"{text[i : end + 1]} at position {i} is not a date") from None
            i = end + 1
        elif (m := _NUMBER.match(text, i)) is not None and (ch != "-" or m.end() > i + 1):
            raw = m.group(0)
            tokens.append(Token("num", float(raw) if "." in raw else int(raw), i))
            i = m.end()
        elif (m := _WORD.match(text, i)) is not None:
            word = m.group(0)
            kind = "kw" if word.lower() in _KEYWORDS else "word"
            tokens.append(Token(kind, word.lower() if kind == "kw" else word, i))
            i = m.end()
        else:
            raise ConditionsError(f"unexpected character {ch!r} at position {i}")
    return tokens


def lookup(record: Record, path: str) -> Any:
    value: Any = record
    for part in path.split("/"):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _norm(value: Any, like: Any) -> Any:
    """Bring a record value to the literal's type so they compare as ConnectWise's SQL would."""
    if value is None:
        return None
    if isinstance(like, datetime):
        if isinstance(value, str):
            try:
                return parse_date(value)
            except ValueError:
                return None
        return value
    if isinstance(like, bool):
        return bool(value)
    if isinstance(like, int | float) and not isinstance(value, bool):
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    if isinstance(like, str):
        return str(value).casefold()
    return value


def _lit(value: Any) -> Any:
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def _compare(op: str, field: str, literal: Any) -> Predicate:
    if op == "in":
        # one lookup per record, then set membership per literal type (lists of ids can be long)
        groups: dict[type, tuple[Any, set[Any]]] = {}
        for item in literal:
            _sample, members = groups.setdefault(type(item), (item, set()))
            members.add(_lit(item))
        kinds = list(groups.values())

        def member(r: Record) -> bool:
            value = lookup(r, field)
            return any(_norm(value, sample) in members for sample, members in kinds)

        return member
    if op == "like":
        pattern = re.compile("".join(".*" if c in "*%" else re.escape(c) for c in str(literal).casefold()), re.DOTALL)
        return lambda r: (v := _norm(lookup(r, field), "")) is not None and pattern.fullmatch(v) is not None
    if op == "contains":
        needle = str(literal).casefold()
        return lambda r: (v := _norm(lookup(r, field), "")) is not None and needle in v
    lit = _lit(literal)
    if op == "=":
        return lambda r: _norm(lookup(r, field), literal) == lit
    if op == "!=":
        return lambda r: _norm(lookup(r, field), literal) != lit
    if literal is None:
        raise ConditionsError(f"null cannot be compared with {op}")

    def ordered(r: Record) -> bool:
        v = _norm(lookup(r, field), literal)
        if v is None:
            return False
        try:
            return bool({"<": v < lit, "<=": v <= lit, ">": v > lit, ">=": v >= lit}[op])
        except TypeError:
            return False

    return ordered


class _Parser:
    def __init__(self, tokens: list[Token], fields: Collection[str] | None) -> None:
        self.tokens = tokens
        self.i = 0
        self.fields = fields

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise ConditionsError("the conditions end too early")
        self.i += 1
        return tok

    def accept_kw(self, word: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == "kw" and tok.value == word:
            self.i += 1
            return True
        return False

    def expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.accept_kw("or"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def and_expr(self) -> Predicate:
        parts = [self.unary()]
        while self.accept_kw("and"):
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def unary(self) -> Predicate:
        if self.accept_kw("not"):
            inner = self.unary()
            return lambda r: not inner(r)
        tok = self.peek()
        if tok is not None and tok.kind == "(":
            self.i += 1
            inner = self.expr()
            self.expect(")")
            return inner
        return self.comparison()

    def expect(self, kind: str) -> Token:
        tok = self.take()
        if tok.kind != kind:
            raise ConditionsError(f"expected {kind!r} at position {tok.pos}, found {tok.value!r}")
        return tok

    def comparison(self) -> Predicate:
        tok = self.take()
        if tok.kind != "word":
            raise ConditionsError(f"expected a field name at position {tok.pos}, found {tok.value!r}")
        field = tok.value
        if self.fields is not None and field.split("/")[0] not in self.fields:
            raise ConditionsError(f"unknown field {field!r} at position {tok.pos}")
        negate = self.accept_kw("not")
        op_tok = self.take()
        if (op_tok.kind == "op" and not negate) or (op_tok.kind == "kw" and op_tok.value in ("like", "contains", "in")):
            op = op_tok.value
        else:
            raise ConditionsError(f"expected an operator after {field!r} at position {op_tok.pos}")
        value = self.value_list() if op == "in" else self.value()
        predicate = _compare(op, field, value)
        return (lambda r: not predicate(r)) if negate else predicate

    def value(self) -> Any:
        tok = self.take()
        if tok.kind in ("str", "num", "date"):
            return tok.value
        if tok.kind == "kw" and tok.value in ("true", "false"):
            return tok.value == "true"
        if tok.kind == "kw" and tok.value == "null":
            return None
        raise ConditionsError(f"expected a value at position {tok.pos}, found {tok.value!r}")

    def value_list(self) -> list[Any]:
        self.expect("(")
        values = [self.value()]
        while (tok := self.take()).kind == ",":
            values.append(self.value())
        if tok.kind != ")":
            raise ConditionsError(f"expected ')' at position {tok.pos}")
        return values


def compile_conditions(text: str | None, fields: Collection[str] | None = None) -> Predicate:
    """A predicate over records; ``fields`` (top-level names) makes unknown fields an error."""
    if text is None or not text.strip():
        return lambda _r: True
    parser = _Parser(tokenize(text), fields)
    predicate = parser.expr()
    if (extra := parser.peek()) is not None:
        raise ConditionsError(f"unexpected {extra.value!r} at position {extra.pos}")
    return predicate
