"""The approval gate's arithmetic (pure)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from seatsync.domain.approvals import Threshold, change, held, over


@pytest.mark.parametrize(
    ("threshold", "before", "after", "expected"),
    [
        (Threshold(percent=20), 10, 12, False),  # exactly 20 %: passes
        (Threshold(percent=20), 10, 13, True),
        (Threshold(percent=20), 10, 7, True),  # a drop counts too
        (Threshold(percent=20), 10, 10, False),
        (Threshold(percent=20), 0, 5, True),  # from nothing: infinite %
        (Threshold(percent=20), None, 5, True),
        (Threshold(percent=20), 0, 0, False),
        (Threshold(seats=5), 100, 105, False),
        (Threshold(seats=5), 100, 106, True),
        (Threshold(seats=5), 0, 3, False),  # seats alone: 3 new seats pass
        (Threshold(percent=50, seats=3), 100, 104, True),  # 4 % but 4 seats
        (Threshold(percent=50, seats=30), 4, 8, True),  # 4 seats but 100 %
        (Threshold(), 1, 1000, False),
        (Threshold(percent=10), 10, None, False),  # nothing to set
    ],
)
def test_over(threshold: Threshold, before: float | None, after: float | None, expected: bool) -> None:
    assert over(threshold, before, after) is expected


def test_change_describes_itself() -> None:
    assert change(10, 25).describe() == "10 → 25 seats, +15 (+150%)"
    assert change(8, 6).describe() == "8 → 6 seats, -2 (-25%)"
    assert change(None, 4).describe() == "— → 4 seats, +4 (new)"
    assert Threshold(percent=20, seats=1).describe() == "more than 20% or more than 1 seat"


@dataclass(frozen=True)
class Row:
    pk: int
    product: str
    before: float | None
    after: float | None

    @property
    def key(self) -> tuple[int, str]:
        return (self.pk, self.product)


def test_held_keys() -> None:
    rows = [Row(1, "", 10, 11), Row(2, "", 10, 30), Row(3, "sat", 5, 5), Row(3, "phishing", 5, 1)]
    assert held(rows, Threshold(percent=25)) == {(2, ""), (3, "phishing")}
