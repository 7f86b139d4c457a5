"""The HaloPSA plan for one subscription and the evidence line in its notes: pure."""

from __future__ import annotations

import pytest

from seatsync.domain.planning import Action, CompanyRef, MappingState
from seatsync.targets.halopsa.notes import KEEP, evidence_line, evidence_periods, with_evidence
from seatsync.targets.halopsa.planning import LicenceMapping, LicenceView, plan_licence

ACME = CompanyRef(1, "acme", "Acme")
MAPPED = LicenceMapping(45, 812)


def plan(billable: int, mapping: LicenceMapping | None = MAPPED, licence: LicenceView | None = None, **kw: str):  # type: ignore[no-untyped-def]
    return plan_licence(company=ACME, product="", billable=billable, mapping=mapping, licence=licence, **kw)


def test_actions() -> None:
    assert plan(3, None).action is Action.SKIP
    partial = plan(3, LicenceMapping(45, None))
    assert (partial.action, partial.mapping_state) == (Action.SKIP, MappingState.PARTIAL)
    assert "create one" in (partial.reason or "")
    assert plan(3, licence=LicenceView(812, 45, 3)).action is Action.UNCHANGED
    update = plan(5, licence=LicenceView(812, 45, 3))
    assert (update.action, update.current, update.proposed) == (Action.UPDATE, 3, 5)
    gone = plan(5)
    assert gone.action is Action.ERROR and "no longer exists" in (gone.reason or "")
    refused = plan(5, read_error="HaloPSA refused read software licensing")
    assert refused.action is Action.ERROR and refused.reason == "HaloPSA refused read software licensing"


def test_blocked_rows_say_why() -> None:
    drift = plan(5, LicenceMapping(45, 812, last_pushed=3), LicenceView(812, 45, 4))
    assert drift.action is Action.BLOCKED and "changed in HaloPSA since seatsync set it (3 → 4)" in (drift.reason or "")
    assert drift.pushes(force=True) and not drift.pushes(force=False)
    assert plan(5, LicenceMapping(45, 812, last_pushed=3), LicenceView(812, 45, 3)).action is Action.UPDATE
    moved = plan(5, licence=LicenceView(812, 46, 3))
    assert moved.action is Action.BLOCKED and "belongs to HaloPSA client 46" in (moved.reason or "")
    inactive = plan(5, licence=LicenceView(812, 45, 3, active=False, name="Acme SAT"))
    assert inactive.action is Action.BLOCKED and "Acme SAT is inactive" in (inactive.reason or "")


def test_evidence_lines_keep_the_msps_notes_and_one_line_per_period() -> None:
    line = evidence_line(period="2026-11", count=42, sha256="0123456789abcdef" * 4, rule="active")
    assert line == "seatsync 2026-11: 42 billable users (rule active), report sha256 0123456789ab"
    notes = with_evidence("Renews in March.\n\n", line)
    assert notes == "Renews in March.\n" + line
    again = with_evidence(notes, evidence_line(period="2026-11", count=43, sha256="f" * 64))
    assert again.splitlines()[0] == "Renews in March." and len(again.splitlines()) == 2
    assert evidence_periods(again)["2026-11"].startswith("seatsync 2026-11: 43 billable users")
    assert with_evidence(notes, line) == notes  # the same line again: the same notes
    many = None
    for month in range(1, 13):
        many = with_evidence(many, evidence_line(period=f"2025-{month:02d}", count=month, sha256="a" * 64))
    many = with_evidence(many, evidence_line(period="2026-01", count=1, sha256="b" * 64))
    assert len(evidence_periods(many)) == KEEP and "2025-01" not in evidence_periods(many)
    with pytest.raises(ValueError, match="not a seatsync evidence line"):
        with_evidence(None, "hello")
