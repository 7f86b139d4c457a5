"""Push planning: what a push would do to one company's ConnectWise addition, and why. Pure, no I/O.

For every company: its mapping state, its billable count, the addition's current quantity, the proposed
quantity, and an action:

- ``update``     the addition will be set to the billable count;
- ``unchanged``  the addition already holds it (no PATCH);
- ``skip``       not mapped (no mapping, or no agreement/addition chosen): nothing is sent;
- ``blocked``    something in ConnectWise looks wrong (cancelled, expired, moved, hand-edited ...): pushed
                 only with an explicit override (``force``);
- ``error``      the addition or agreement could not be read (deleted, a right is missing ...).
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from seatsync.domain.invoicing import InvoiceTerms, InvoiceTiming, invoice_timing


class MappingState(enum.StrEnum):
    UNMAPPED = "unmapped"
    PARTIAL = "partial"
    COMPLETE = "complete"


class Action(enum.StrEnum):
    UPDATE = "update"
    UNCHANGED = "unchanged"
    SKIP = "skip"
    BLOCKED = "blocked"
    ERROR = "error"


class BlockReason(enum.StrEnum):
    ADDITION_CANCELLED = "addition-cancelled"
    AGREEMENT_CANCELLED = "agreement-cancelled"
    AGREEMENT_EXPIRED = "agreement-expired"
    AGREEMENT_INACTIVE = "agreement-inactive"
    ADDITION_NOT_ON_AGREEMENT = "addition-not-on-agreement"
    AGREEMENT_OTHER_COMPANY = "agreement-other-company"
    DRIFT = "drift"


@dataclass(frozen=True, slots=True)
class MappingView:
    cw_company_id: int | None
    agreement_id: int | None
    addition_id: int | None
    #: what seatsync last set on this addition (None: never pushed)
    last_pushed_quantity: float | None = None
    cw_company_name: str | None = None

    @property
    def state(self) -> MappingState:
        if self.agreement_id is not None and self.addition_id is not None:
            return MappingState.COMPLETE
        if self.cw_company_id is None and self.agreement_id is None and self.addition_id is None:
            return MappingState.UNMAPPED
        return MappingState.PARTIAL


@dataclass(frozen=True, slots=True)
class AgreementView:
    id: int
    company_id: int | None
    company_name: str | None = None
    status: str | None = None  # Active | Cancelled | Expired | Inactive
    cancelled: bool = False
    end_date: datetime | None = None
    no_ending_date: bool | None = None
    #: invoice timing (``seatsync.domain.invoicing``)
    next_invoice_date: date | None = None
    billing_cycle: str | None = None
    prorate: bool = False


@dataclass(frozen=True, slots=True)
class AdditionView:
    id: int
    agreement_id: int | None
    quantity: float | None
    cancelled_date: datetime | None = None
    less_included: float | None = None


@dataclass(frozen=True, slots=True)
class RemoteView:
    """What ConnectWise said: the agreement and addition, ``None`` where the record does not exist."""

    agreement: AgreementView | None
    addition: AdditionView | None
    #: the record could not be read for another reason (a right missing, the server failing): in words
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CompanyRef:
    pk: int
    company_id: str
    name: str


@dataclass(frozen=True, slots=True)
class PlanRow:
    company: CompanyRef
    mapping_state: MappingState
    billable: int
    current_quantity: float | None
    proposed_quantity: int | None
    action: Action
    reason: str | None = None
    block: BlockReason | None = None
    cw_company_id: int | None = None
    agreement_id: int | None = None
    addition_id: int | None = None
    #: the mapping's product: "" = one item for all the company's products
    product: str = ""
    #: where the proposed quantity lands and what is billed (read from the agreement and the addition)
    invoice: InvoiceTiming | None = None
    #: said beside the action: billed together with ..., archived ..., in progress ...
    note: str | None = None

    @property
    def already_invoiced(self) -> bool:
        return self.invoice is not None and self.invoice.already_invoiced

    def pushes(self, *, force: bool) -> bool:
        """Whether a push sends this row (``blocked`` only with the override)."""
        return self.action in (Action.UPDATE, Action.UNCHANGED) or (force and self.action is Action.BLOCKED)


@dataclass(frozen=True, slots=True)
class Plan:
    period: str
    rows: list[PlanRow] = field(default_factory=list)

    def counts(self) -> dict[Action, int]:
        found = Counter(r.action for r in self.rows)
        return {a: found.get(a, 0) for a in Action}


def _number(value: float | None) -> str:
    if value is None:
        return "nothing"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _date(value: datetime) -> str:
    return value.date().isoformat()


def _agreement_block(mapping: MappingView, agreement: AgreementView, now: datetime) -> tuple[BlockReason, str] | None:
    if mapping.cw_company_id is not None and agreement.company_id not in (None, mapping.cw_company_id):
        owner = agreement.company_name or f"company {agreement.company_id}"
        return (
            BlockReason.AGREEMENT_OTHER_COMPANY,
            f"agreement {agreement.id} now belongs to ConnectWise {owner}, not the mapped company "
            f"{mapping.cw_company_name or mapping.cw_company_id}; check the mapping",
        )
    status = (agreement.status or "").lower()
    if agreement.cancelled or status == "cancelled":
        return BlockReason.AGREEMENT_CANCELLED, f"agreement {agreement.id} is cancelled in ConnectWise"
    ended = agreement.end_date is not None and not agreement.no_ending_date and agreement.end_date <= now
    if status == "expired" or ended:
        when = f" on {_date(agreement.end_date)}" if agreement.end_date is not None else ""
        return BlockReason.AGREEMENT_EXPIRED, f"agreement {agreement.id} expired{when}"
    if status == "inactive":
        return BlockReason.AGREEMENT_INACTIVE, f"agreement {agreement.id} is inactive in ConnectWise"
    return None


def plan_company(
    *,
    company: CompanyRef,
    billable: int,
    mapping: MappingView | None,
    remote: RemoteView | None,
    now: datetime,
    quantity: int | None = None,
    product: str = "",
    period_start: date | None = None,
    note: str | None = None,
    refused: str | None = None,
) -> PlanRow:
    """The plan for one company's item. ``remote`` is what was read from ConnectWise (None when not read).

    ``quantity`` is what the item gets when it is not ``billable`` (companies billed together: their sum);
    ``period_start`` (the period's first local day) lets the row say on which invoice the quantity lands;
    ``refused`` is why the row must not be pushed whatever ConnectWise says (an item shared by mistake).
    """
    state = mapping.state if mapping is not None else MappingState.UNMAPPED
    target = billable if quantity is None else quantity
    ids = {
        "cw_company_id": mapping.cw_company_id if mapping else None,
        "agreement_id": mapping.agreement_id if mapping else None,
        "addition_id": mapping.addition_id if mapping else None,
    }

    def row(
        action: Action, reason: str | None, current: float | None = None, block: BlockReason | None = None
    ) -> PlanRow:
        proposed = target if state is MappingState.COMPLETE else None
        invoice = None
        if proposed is not None and period_start is not None and remote is not None and remote.agreement is not None:
            agreement = remote.agreement
            terms = InvoiceTerms(agreement.next_invoice_date, agreement.billing_cycle, agreement.prorate)
            less = remote.addition.less_included if remote.addition is not None else None
            invoice = invoice_timing(period_start=period_start, terms=terms, quantity=proposed, less_included=less)
        return PlanRow(
            company, state, billable, current, proposed, action, reason, block, **ids,
            product=product, invoice=invoice, note=note,
        )  # fmt: skip

    if mapping is None or state is MappingState.UNMAPPED:
        return row(Action.SKIP, "not mapped to ConnectWise")
    if state is MappingState.PARTIAL:
        missing = "an agreement and an addition" if mapping.agreement_id is None else "an addition"
        return row(Action.SKIP, f"not mapped: choose {missing} in the mapper")
    if refused is not None:
        return row(Action.ERROR, refused)
    if remote is None:
        return row(Action.ERROR, "ConnectWise was not read")
    if remote.error is not None:
        return row(Action.ERROR, remote.error)
    agreement, addition = remote.agreement, remote.addition
    if agreement is None:
        return row(Action.ERROR, f"agreement {mapping.agreement_id} was deleted in ConnectWise; choose another")
    blocked = _agreement_block(mapping, agreement, now)
    current = addition.quantity if addition is not None else None
    if blocked is not None:
        return row(Action.BLOCKED, blocked[1], current, blocked[0])
    if addition is None or addition.agreement_id not in (None, agreement.id):
        return row(
            Action.BLOCKED,
            f"addition {mapping.addition_id} is no longer on agreement {agreement.id} "
            "(deleted or moved in ConnectWise); choose another addition",
            current,
            BlockReason.ADDITION_NOT_ON_AGREEMENT,
        )
    if addition.cancelled_date is not None and addition.cancelled_date <= now:
        return row(
            Action.BLOCKED,
            f"addition {addition.id} was cancelled in ConnectWise on {_date(addition.cancelled_date)}",
            current,
            BlockReason.ADDITION_CANCELLED,
        )
    if current is not None and float(current) == float(target):
        return row(Action.UNCHANGED, None, current)
    last = mapping.last_pushed_quantity
    if last is not None and (current is None or float(current) != float(last)):
        return row(
            Action.BLOCKED,
            f"the addition's quantity was changed in ConnectWise since seatsync set it to {_number(last)} "
            f"(it is now {_number(current)}); to replace it with {target}, push with “Also push the blocked "
            "rows” ticked (--force on the command line)",
            current,
            BlockReason.DRIFT,
        )
    return row(Action.UPDATE, None, current)


def make_plan(period: str, rows: Iterable[PlanRow]) -> Plan:
    return Plan(period, sorted(rows, key=lambda r: (r.company.company_id, r.product)))
