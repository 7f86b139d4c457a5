"""What a push would do to one Autotask contract service, and why. Pure, no I/O.

Autotask keeps units per billing period (ContractServiceUnits) and changes them only by deltas
(ContractServiceAdjustments), so the plan compares the units *in force on the period's first day* with the
billable count: equal is ``unchanged``; different is ``update`` with ``unitChange`` = the difference, effective that
day. A period Autotask has approved and posted is never changed (``blocked``, even with ``force``: Autotask
would refuse); units changed in Autotask since seatsync set them are ``blocked`` as drift unless forced.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from seatsync.domain.planning import Action


class Block(enum.StrEnum):
    POSTED = "posted"
    DRIFT = "drift"


@dataclass(frozen=True, slots=True)
class UnitsView:
    """The ContractServiceUnits row in force on the period's first day."""

    units: int
    start: date
    end: date
    posted: bool = False
    #: the catalog service of the contract service (an adjustment names it)
    service_id: int = 0


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    before: int | None
    after: int | None
    #: ``unitChange`` to post (0 when nothing is posted)
    change: int
    reason: str | None = None
    block: Block | None = None
    service_id: int = 0

    def pushes(self, *, force: bool) -> bool:
        """Whether a push sends this row: drift only with the override; a posted period never."""
        return self.action in (Action.UPDATE, Action.UNCHANGED) or (
            force and self.action is Action.BLOCKED and self.block is Block.DRIFT
        )


def decide(*, billable: int, day: date, row: UnitsView | None, last_pushed: float | None, period: str) -> Decision:
    if row is None:
        return Decision(
            Action.ERROR,
            None,
            billable,
            0,
            f"the contract service has no units in force on {day.isoformat()}: the contract does not cover {period} "
            "(check its start and end dates in Autotask)",
        )
    change = billable - row.units
    service = row.service_id
    if row.posted:
        if change == 0:
            return Decision(Action.UNCHANGED, row.units, row.units, 0, service_id=service)
        return Decision(
            Action.BLOCKED,
            row.units,
            billable,
            change,
            f"{period} is already approved and posted in Autotask ({row.units} units billed), so it is not changed; "
            f"bill the difference of {change:+d} in the next open period (push that period), or un-post {period} "
            "in Autotask first",
            Block.POSTED,
            service,
        )
    if change == 0:
        # right already (set by hand, or by the push of a company billed together on it): nothing to replace
        return Decision(Action.UNCHANGED, row.units, row.units, 0, service_id=service)
    if last_pushed is not None and row.units != int(last_pushed):
        return Decision(
            Action.BLOCKED,
            row.units,
            billable,
            change,
            f"the units were changed in Autotask since seatsync set them (seatsync set {int(last_pushed)}, "
            f"Autotask now has {row.units}); push with the override (--force) to set {billable}",
            Block.DRIFT,
            service,
        )
    return Decision(
        Action.UPDATE, row.units, billable, change, f"{change:+d} units from {day.isoformat()}", service_id=service
    )
