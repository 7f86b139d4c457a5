"""The pure rules: which count each item gets (shared items), and where a quantity lands (invoice timing)."""

from __future__ import annotations

from datetime import date

from seatsync.domain.invoicing import InvoiceTerms, Landing, billed_quantity, invoice_timing, parse_invoice_date
from seatsync.domain.items import ItemShare, quantities

OCTOBER = date(2026, 10, 1)


def test_companies_billed_together_get_their_sum_and_say_so() -> None:
    alpha = ItemShare((1, ""), "a1000", 7, together=True, label="alpha")
    beta = ItemShare((2, ""), "a1000", 3, together=True, label="beta")
    alone = ItemShare((3, "sat"), "a2000", 4, label="gamma (sat)")
    found = quantities([alpha, beta, alone])
    assert found[(1, "")].total == found[(2, "")].total == 10
    assert found[(1, "")].describe(alpha) == "billed together with beta (3): 7 + 3 = 10"
    assert found[(3, "sat")].total == 4
    assert not found[(3, "sat")].shared


def test_a_shared_item_not_billed_together_is_an_error_on_each_row() -> None:
    alpha = ItemShare((1, ""), "a1000", 7, together=True, label="alpha")
    beta = ItemShare((2, ""), "a1000", 3, together=False, label="beta")
    found = quantities([alpha, beta])
    assert found[(1, "")].error is not None and "beta" in found[(1, "")].error
    assert found[(2, "")].error is not None and "alpha" in found[(2, "")].error


def test_unmapped_rows_share_nothing() -> None:
    found = quantities([ItemShare((1, ""), None, 7), ItemShare((2, ""), None, 3)])
    assert (found[(1, "")].total, found[(2, "")].total) == (7, 3)


def test_next_invoice_after_the_period_start_means_already_invoiced() -> None:
    terms = InvoiceTerms(date(2026, 12, 1), "Monthly", prorate=False)
    timing = invoice_timing(period_start=OCTOBER, terms=terms, quantity=25, less_included=10)
    assert timing.already_invoiced
    assert timing.landing is Landing.NEXT_CYCLE
    assert timing.billed_quantity == 15
    assert timing.describe() == (
        "period already invoiced at the old quantity: the new one bills from the Monthly invoice of 2026-12-01 "
        "(no proration); bills 15 (less 10 included)"
    )
    prorated = invoice_timing(
        period_start=OCTOBER, terms=InvoiceTerms(date(2026, 11, 1), "Monthly", True), quantity=25, less_included=0
    )
    assert prorated.landing is Landing.PRORATED and prorated.prorated
    assert "prorated" in prorated.describe()


def test_next_invoice_on_the_period_start_takes_the_quantity_in_full() -> None:
    timing = invoice_timing(
        period_start=OCTOBER, terms=InvoiceTerms(date(2026, 10, 1), "Monthly"), quantity=5, less_included=None
    )
    assert not timing.already_invoiced
    assert timing.landing is Landing.NEXT_INVOICE
    assert timing.describe() == "lands on the Monthly invoice of 2026-10-01; bills 5"
    unknown = invoice_timing(period_start=OCTOBER, terms=InvoiceTerms(None), quantity=5, less_included=None)
    assert unknown.landing is Landing.UNKNOWN and not unknown.already_invoiced


def test_billed_quantity_never_below_zero_and_dates_as_the_contract_gives_them() -> None:
    assert billed_quantity(3, 10) == 0
    assert billed_quantity(12.5, 2) == 10.5
    assert parse_invoice_date("2026-12-01T00:00:00Z") == date(2026, 12, 1)
    assert parse_invoice_date("2026-12-01") == date(2026, 12, 1)
    assert parse_invoice_date("") is None
    assert parse_invoice_date("soon") is None
    assert parse_invoice_date("2026-02-30") is None


def test_a_plan_row_says_where_the_quantity_lands_and_what_is_billed() -> None:
    from datetime import UTC, datetime

    from seatsync.domain.planning import (
        Action,
        AdditionView,
        AgreementView,
        CompanyRef,
        MappingView,
        RemoteView,
        plan_company,
    )

    agreement = AgreementView(100, 250, next_invoice_date=date(2026, 12, 1), billing_cycle="Monthly", prorate=True)
    remote = RemoteView(agreement, AdditionView(1000, 100, 4.0, less_included=5.0))
    row = plan_company(
        company=CompanyRef(1, "alpha", "Alpha"),
        billable=7,
        quantity=10,
        mapping=MappingView(250, 100, 1000),
        remote=remote,
        now=datetime(2026, 11, 5, tzinfo=UTC),
        period_start=OCTOBER,
        note="billed together with beta (3): 7 + 3 = 10",
    )
    assert row.action is Action.UPDATE
    assert row.proposed_quantity == 10
    assert row.already_invoiced
    assert row.invoice is not None
    assert row.invoice.billed_quantity == 5
    assert row.invoice.invoice_date == date(2026, 12, 1)
    assert row.invoice.prorated
    same = plan_company(
        company=CompanyRef(1, "alpha", "Alpha"),
        billable=7,
        quantity=10,
        mapping=MappingView(250, 100, 1000),
        remote=RemoteView(agreement, AdditionView(1000, 100, 10.0)),
        now=datetime(2026, 11, 5, tzinfo=UTC),
    )
    assert same.action is Action.UNCHANGED  # the item holds the sum already
