"""Invoice timing: on which ConnectWise invoice a new quantity lands, and the quantity billed. Pure, no I/O.

ConnectWise bills an agreement's recurring additions in advance: the invoice generated on a cycle's first
day bills that cycle (a month for ``Monthly``, three for ``Quarterly`` ...), and the agreement's
``nextInvoiceDate`` is the day the next one will be generated. So for a billing period:

- ``nextInvoiceDate`` on or before the period's first day: the period's invoice is not generated yet, and
  the new quantity lands on it (the invoice of ``nextInvoiceDate``), in full;
- ``nextInvoiceDate`` after the period's first day: the invoice covering the period's start is already
  generated (the period is **already invoiced**). The new quantity lands on the invoice of
  ``nextInvoiceDate``: with ``prorateFlag`` ConnectWise adds the change prorated for what is left of the
  invoiced cycle; without it the invoiced cycle keeps the old quantity and the change bills from the next
  cycle on.

ConnectWise does not document this as a rule (its reference gives the fields, not the invoicing run); this is
the reading that never claims a change reaches an invoice that was already generated (docs/billing-rules.md).

The quantity billed is the addition's quantity less its ``lessIncluded`` (the units the agreement already
includes), never below 0.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date

_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})")


class Landing(enum.StrEnum):
    #: the period's invoice is not generated yet: the quantity is billed on it in full
    NEXT_INVOICE = "next-invoice"
    #: the period was invoiced; the change is added, prorated, to the next invoice
    PRORATED = "prorated"
    #: the period was invoiced at the old quantity; the new one bills from the next cycle
    NEXT_CYCLE = "next-cycle"
    #: ConnectWise gives no next invoice date (the agreement is not invoiced, or the field is hidden)
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class InvoiceTerms:
    """What the agreement says about its invoices."""

    next_invoice_date: date | None
    billing_cycle: str | None = None
    prorate: bool = False


@dataclass(frozen=True, slots=True)
class InvoiceTiming:
    landing: Landing
    invoice_date: date | None
    billing_cycle: str | None
    #: the invoice covering the period's start was generated before this push
    already_invoiced: bool
    less_included: float
    #: what ConnectWise bills for the proposed quantity: quantity - lessIncluded, not below 0
    billed_quantity: float

    @property
    def prorated(self) -> bool:
        return self.landing is Landing.PRORATED

    def describe(self) -> str:
        """One sentence for the preview row."""
        cycle = f"{self.billing_cycle} " if self.billing_cycle else ""
        when = self.invoice_date.isoformat() if self.invoice_date else ""
        included = f" (less {_number(self.less_included)} included)" if self.less_included else ""
        billed = f"bills {_number(self.billed_quantity)}{included}"
        if self.landing is Landing.NEXT_INVOICE:
            return f"lands on the {cycle}invoice of {when}; {billed}"
        if self.landing is Landing.PRORATED:
            return f"period already invoiced: the change lands on the {cycle}invoice of {when}, prorated; {billed}"
        if self.landing is Landing.NEXT_CYCLE:
            return (
                f"period already invoiced at the old quantity: the new one bills from the {cycle}invoice "
                f"of {when} (no proration); {billed}"
            )
        return f"ConnectWise gives no next invoice date for the agreement; {billed}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def parse_invoice_date(value: str | None) -> date | None:
    """``nextInvoiceDate`` is a string in the contract: ``2026-12-01`` or ``2026-12-01T00:00:00Z``."""
    if not value:
        return None
    found = _DATE.match(value)
    if found is None:
        return None
    try:
        return date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
    except ValueError:
        return None


def billed_quantity(quantity: float, less_included: float | None) -> float:
    """The quantity ConnectWise bills: ``quantity - lessIncluded``, not below 0."""
    return max(0.0, float(quantity) - float(less_included or 0.0))


def invoice_timing(
    *, period_start: date, terms: InvoiceTerms, quantity: float, less_included: float | None
) -> InvoiceTiming:
    """Where ``quantity`` lands for the period that starts on ``period_start`` (the tenant's local date)."""
    included = float(less_included or 0.0)
    billed = billed_quantity(quantity, included)
    invoice = terms.next_invoice_date
    if invoice is None:
        landing, invoiced = Landing.UNKNOWN, False
    elif invoice <= period_start:
        landing, invoiced = Landing.NEXT_INVOICE, False
    else:
        landing, invoiced = (Landing.PRORATED if terms.prorate else Landing.NEXT_CYCLE), True
    return InvoiceTiming(landing, invoice, terms.billing_cycle, invoiced, included, billed)


__all__ = [
    "InvoiceTerms",
    "InvoiceTiming",
    "Landing",
    "billed_quantity",
    "invoice_timing",
    "parse_invoice_date",
]
