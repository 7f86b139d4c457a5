"""Fuzzy company-name matching for auto-map."""

from __future__ import annotations

import pytest

from seatsync.domain.matching import Candidate, Matcher, normalise


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Smith & Sons Plumbing, LLC", "smith and sons plumbing"),
        ("Smith and Sons Plumbing", "smith and sons plumbing"),
        ("ACME Corp.", "acme"),
        ("Acme Corporation", "acme"),
        ("Contoso Ltd", "contoso"),
        ("Müller GmbH", "muller"),
        ("Sterling & Co. Financial", "sterling and co financial"),
        ("Granite Construction Co", "granite construction"),
        ("The Initech Company, Inc.", "initech"),
        ("Inc", "inc"),
    ],
)
def test_normalise(name: str, expected: str) -> None:
    assert normalise(name) == expected


CW = [
    Candidate(1, "Acme Corporation"),
    Candidate(2, "Smith & Sons Plumbing"),
    Candidate(3, "Northwind Traders"),
    Candidate(4, "Northwind Traders Inc."),
    Candidate(5, "Contoso Ltd"),
    Candidate(6, "Globex Logistics"),
]


def test_equal_after_normalising_is_full_confidence() -> None:
    match = Matcher(CW).best("Smith and Sons Plumbing LLC")
    assert match is not None
    assert (match.candidate.key, match.confidence, match.rival) == (2, 1.0, None)


def test_close_names_score_high_but_below_one() -> None:
    match = Matcher(CW).best("Globex Logistic")
    assert match is not None and match.candidate.key == 6
    assert 0.9 <= match.confidence < 1.0


def test_two_equal_candidates_are_ambiguous_unless_one_is_the_exact_name() -> None:
    exact = Matcher(CW).best("Northwind Traders")
    assert exact is not None and exact.candidate.key == 3 and exact.rival is not None and exact.rival.key == 4
    assert exact.confidence >= 0.9
    neither = Matcher(CW).best("Northwind Traders LLC")
    assert neither is not None and neither.rival is not None
    assert neither.confidence <= 0.75


def test_nothing_similar_gives_no_match() -> None:
    assert Matcher(CW).best("Zebra Veterinary Hospital") is None
    assert Matcher([]).best("Acme") is None


def test_a_shorter_name_is_not_a_full_match() -> None:
    match = Matcher([Candidate(1, "Acme Dental Group")]).best("Acme", minimum=0.1)
    assert match is not None and match.confidence < 0.5
