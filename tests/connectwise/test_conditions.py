"""The conditions builder (pure) and its round trip through the sandbox's parser."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seatsync.connectors.connectwise.conditions import all_of, literal, quote, where
from seatsync.sandboxes.connectwise.conditions import ConditionsError, compile_conditions, tokenize


def test_quoting_escapes_quotes_and_backslashes() -> None:
    assert quote('Bob "the" Builder') == '"Bob \\"the\\" Builder"'
    assert quote("C:\\share") == '"C:\\\\share"'
    assert quote("Smith & Sons *") == '"Smith & Sons *"'  # & and * need no escaping inside quotes


def test_literals() -> None:
    assert literal(True) == "True"
    assert literal(False) == "False"
    assert literal(None) == "null"
    assert literal(5) == "5"
    assert literal(2.5) == "2.5"
    assert literal(datetime(2026, 10, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))) == "[2026-10-01T00:00:00Z]"
    assert literal(date(2026, 10, 1)) == "[2026-10-01T00:00:00Z]"
    with pytest.raises(ValueError, match="time-zone-aware"):
        literal(datetime(2026, 1, 1))


def test_composition_parenthesises_or_inside_and() -> None:
    either = where("name", "=", "A") | where("name", "=", "B")
    combined = where("company/id", "=", 5) & either
    assert str(combined) == 'company/id=5 AND (name="A" OR name="B")'
    assert str(where("id", "in", [3, 2, 4])) == "id in (3,2,4)"
    assert str(where("name", "not like", "Old*")) == 'name not like "Old*"'
    assert str(~where("deletedFlag", "=", True)) == "not (deletedFlag=True)"
    assert all_of(None, None) is None
    assert str(all_of(where("a", "=", 1), None, where("b", "=", False))) == "a=1 AND b=False"


def test_builder_refuses_what_would_be_injected() -> None:
    with pytest.raises(ValueError, match="field path"):
        where('name="x" OR id', "=", 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="list of values"):
        where("id", "in", "12")
    with pytest.raises(ValueError, match="takes a string"):
        where("name", "like", 5)


@given(st.text(max_size=40))
def test_any_name_round_trips_exactly(name: str) -> None:
    records = [{"name": name, "id": 1}, {"name": name + "x", "id": 2}, {"name": "x" + name, "id": 3}]
    predicate = compile_conditions(str(where("name", "=", name)))
    assert [r["id"] for r in records if predicate(r)] == [1]


def test_tricky_names_and_wildcards_round_trip() -> None:
    records = [
        {"id": 1, "name": 'The "Best" Co', "deletedFlag": False, "company": {"id": 5}},
        {"id": 2, "name": "Smith & Sons *", "deletedFlag": True, "company": {"id": 6}},
        {"id": 3, "name": "Smith & Sons Plumbing", "deletedFlag": False, "company": {"id": 5}},
    ]

    def ids(condition: object) -> list[int]:
        predicate = compile_conditions(str(condition))
        return [r["id"] for r in records if predicate(r)]

    assert ids(where("name", "=", 'The "Best" Co')) == [1]
    assert ids(where("name", "=", "Smith & Sons *")) == [2]  # = is literal: * is not a wildcard
    assert ids(where("name", "like", "Smith & Sons*")) == [2, 3]
    assert ids(where("company/id", "=", 5) & where("deletedFlag", "=", False)) == [1, 3]
    assert ids(where("name", "contains", "sons") & ~where("id", "=", 2)) == [3]


def test_parser_errors_are_explained() -> None:
    for text, expected in [
        ('name = "open', "unterminated string"),
        ("name = ", "end too early"),
        ("= 5", "field name"),
        ("id = 5 5", "unexpected"),
        ("name ~ 1", "unexpected character"),
        ("date > [not-a-date]", "is not a date"),
    ]:
        with pytest.raises(ConditionsError, match=expected):
            compile_conditions(text)
    with pytest.raises(ConditionsError, match="unknown field"):
        compile_conditions("nosuch = 1", {"id", "name"})
    assert [t.kind for t in tokenize("a/b>=[2026-01-01T00:00:00Z] and c in (1,-2.5)")] == [
        "word",
        "op",
        "date",
        "kw",
        "word",
        "kw",
        "(",
        "num",
        ",",
        "num",
        ")",
    ]


def test_date_comparison() -> None:
    predicate = compile_conditions("endDate < [2025-01-01T00:00:00Z]")
    assert predicate({"endDate": "2024-12-31T00:00:00Z"})
    assert not predicate({"endDate": "2025-06-30T00:00:00Z"})
    assert not predicate({})
    assert literal(datetime(2025, 1, 1, tzinfo=UTC)) == "[2025-01-01T00:00:00Z]"
