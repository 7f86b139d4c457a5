"""The plan for one company: every action and every reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from seatsync.domain.planning import (
    Action,
    AdditionView,
    AgreementView,
    BlockReason,
    CompanyRef,
    MappingState,
    MappingView,
    RemoteView,
    make_plan,
    plan_company,
)

NOW = datetime(2026, 10, 15, tzinfo=UTC)
ACME = CompanyRef(1, "acme", "Acme")
MAPPED = MappingView(cw_company_id=250, agreement_id=77, addition_id=4412, last_pushed_quantity=None)
AGREEMENT = AgreementView(77, company_id=250, company_name="Acme Corporation", status="Active")
ADDITION = AdditionView(4412, agreement_id=77, quantity=10.0)


def plan(
    billable: int = 12,
    mapping: MappingView | None = MAPPED,
    agreement: AgreementView | None = AGREEMENT,
    addition: AdditionView | None = ADDITION,
    error: str | None = None,
):
    return plan_company(
        company=ACME, billable=billable, mapping=mapping, remote=RemoteView(agreement, addition, error), now=NOW
    )


def test_update_when_the_count_differs() -> None:
    row = plan()
    assert (row.action, row.current_quantity, row.proposed_quantity, row.reason) == (Action.UPDATE, 10.0, 12, None)
    assert row.mapping_state is MappingState.COMPLETE
    assert (row.cw_company_id, row.agreement_id, row.addition_id) == (250, 77, 4412)
    assert row.pushes(force=False)


def test_unchanged_when_the_addition_already_holds_the_count() -> None:
    row = plan(billable=10)
    assert row.action is Action.UNCHANGED
    assert row.pushes(force=False)


def test_update_after_an_earlier_push_without_drift() -> None:
    row = plan(mapping=MappingView(250, 77, 4412, last_pushed_quantity=10.0))
    assert row.action is Action.UPDATE


def test_zero_billable_users_sets_zero() -> None:
    row = plan(billable=0)
    assert (row.action, row.proposed_quantity) == (Action.UPDATE, 0)


def test_unmapped_company_is_skipped() -> None:
    row = plan_company(company=ACME, billable=3, mapping=None, remote=None, now=NOW)
    assert (row.action, row.mapping_state, row.proposed_quantity) == (Action.SKIP, MappingState.UNMAPPED, None)
    assert row.reason == "not mapped to ConnectWise"
    assert not row.pushes(force=True)


@pytest.mark.parametrize(
    ("mapping", "missing"),
    [
        (MappingView(250, None, None), "an agreement and an addition"),
        (MappingView(250, 77, None), "an addition"),
    ],
)
def test_partial_mapping_is_skipped(mapping: MappingView, missing: str) -> None:
    row = plan_company(company=ACME, billable=3, mapping=mapping, remote=None, now=NOW)
    assert (row.action, row.mapping_state) == (Action.SKIP, MappingState.PARTIAL)
    assert row.reason == f"not mapped: choose {missing} in the mapper"


def test_an_empty_mapping_counts_as_unmapped() -> None:
    row = plan_company(company=ACME, billable=3, mapping=MappingView(None, None, None), remote=None, now=NOW)
    assert row.mapping_state is MappingState.UNMAPPED


@pytest.mark.parametrize(
    ("agreement", "block", "reason"),
    [
        (
            AgreementView(77, 250, status="Cancelled", cancelled=True),
            BlockReason.AGREEMENT_CANCELLED,
            "agreement 77 is cancelled in ConnectWise",
        ),
        (AgreementView(77, 250, status="Cancelled"), BlockReason.AGREEMENT_CANCELLED, "agreement 77 is cancelled"),
        (
            AgreementView(77, 250, status="Expired", end_date=datetime(2024, 12, 31, tzinfo=UTC)),
            BlockReason.AGREEMENT_EXPIRED,
            "agreement 77 expired on 2024-12-31",
        ),
        (
            AgreementView(77, 250, status="Active", end_date=datetime(2026, 9, 30, tzinfo=UTC), no_ending_date=False),
            BlockReason.AGREEMENT_EXPIRED,
            "agreement 77 expired on 2026-09-30",
        ),
        (AgreementView(77, 250, status="Inactive"), BlockReason.AGREEMENT_INACTIVE, "agreement 77 is inactive"),
        (
            AgreementView(77, 999, company_name="Globex Logistics", status="Active"),
            BlockReason.AGREEMENT_OTHER_COMPANY,
            "agreement 77 now belongs to ConnectWise Globex Logistics",
        ),
    ],
)
def test_agreement_problems_block(agreement: AgreementView, block: BlockReason, reason: str) -> None:
    row = plan(agreement=agreement)
    assert (row.action, row.block) == (Action.BLOCKED, block)
    assert row.reason is not None and row.reason.startswith(reason)
    assert row.current_quantity == 10.0
    assert not row.pushes(force=False)
    assert row.pushes(force=True)


def test_an_end_date_in_the_future_is_fine() -> None:
    row = plan(agreement=AgreementView(77, 250, status="Active", end_date=datetime(2027, 1, 1, tzinfo=UTC)))
    assert row.action is Action.UPDATE


def test_addition_cancelled_blocks() -> None:
    row = plan(addition=AdditionView(4412, 77, 10.0, cancelled_date=datetime(2026, 9, 1, tzinfo=UTC)))
    assert (row.action, row.block) == (Action.BLOCKED, BlockReason.ADDITION_CANCELLED)
    assert row.reason == "addition 4412 was cancelled in ConnectWise on 2026-09-01"


def test_addition_cancelled_in_the_future_is_still_active() -> None:
    row = plan(addition=AdditionView(4412, 77, 10.0, cancelled_date=datetime(2026, 12, 31, tzinfo=UTC)))
    assert row.action is Action.UPDATE


@pytest.mark.parametrize("addition", [None, AdditionView(4412, agreement_id=78, quantity=10.0)])
def test_addition_no_longer_on_the_agreement_blocks(addition: AdditionView | None) -> None:
    row = plan(addition=addition)
    assert (row.action, row.block) == (Action.BLOCKED, BlockReason.ADDITION_NOT_ON_AGREEMENT)
    assert row.reason is not None and "addition 4412 is no longer on agreement 77" in row.reason


def test_drift_blocks_when_the_quantity_was_edited_by_hand() -> None:
    row = plan(mapping=MappingView(250, 77, 4412, last_pushed_quantity=8.0))
    assert (row.action, row.block) == (Action.BLOCKED, BlockReason.DRIFT)
    assert row.reason is not None
    assert "changed in ConnectWise since seatsync set it to 8 (it is now 10)" in row.reason
    assert row.pushes(force=True)


def test_no_drift_when_the_hand_edit_already_matches_the_count() -> None:
    row = plan(billable=10, mapping=MappingView(250, 77, 4412, last_pushed_quantity=8.0))
    assert row.action is Action.UNCHANGED


def test_agreement_deleted_is_an_error() -> None:
    row = plan(agreement=None)
    assert row.action is Action.ERROR
    assert row.reason == "agreement 77 was deleted in ConnectWise; choose another"
    assert not row.pushes(force=True)


def test_a_read_error_is_reported_in_words() -> None:
    row = plan(error="the API member lacks Finance › Agreements › Inquire Level (All)")
    assert (row.action, row.reason) == (Action.ERROR, "the API member lacks Finance › Agreements › Inquire Level (All)")


def test_agreement_checks_come_before_addition_checks() -> None:
    row = plan(agreement=AgreementView(77, 250, status="Cancelled", cancelled=True), addition=None)
    assert row.block is BlockReason.AGREEMENT_CANCELLED


def test_plan_sorts_and_counts() -> None:
    rows = [
        plan_company(company=CompanyRef(2, "b", "B"), billable=1, mapping=None, remote=None, now=NOW),
        plan(),
    ]
    made = make_plan("2026-10", rows)
    assert [r.company.company_id for r in made.rows] == ["acme", "b"]
    assert made.counts()[Action.UPDATE] == 1
    assert made.counts()[Action.SKIP] == 1
    assert made.counts()[Action.BLOCKED] == 0
