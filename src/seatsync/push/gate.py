"""The approval gate inside the engine: which items of a run it sends, and which it holds for an admin.

Every run that sends (not a dry run) of a target whose tenant set an approval threshold is gated (``gate_for``):

- a **scheduled** run, or a run started **by hand** whose operator did not confirm the rows over the threshold
  (``PushOptions.approve_over_threshold``): the engine plans the period first (``BillingTarget.plan``, reads
  only), holds every item whose change goes over the threshold (a result ``awaiting``, its before → proposed
  quantities kept, on Approvals) and sends the others;
- an **approval** run (started by approving rows of a held run; ``started_by`` ends with
  ``(approval of run N)``): it sends exactly the approved items of run N, after planning them again: an item
  whose current or proposed quantity has changed since it was held is held again, to be approved anew.

A run by hand whose operator confirmed them sends them. Every surface asks first with the same rows:
``over_threshold(session, tenant_id=, target=, planned=)`` picks them from a preview (the web's push dialog,
``seatsync push``'s question), each with its change.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatsync.db.models import Approval, PushRun
from seatsync.domain.approvals import Change, Threshold, change, over
from seatsync.push.runs import Outcome
from seatsync.services.automation import automation_for, threshold_of
from seatsync.targets.base import ItemKey, PlannedRow, RowResult, Scope

SCHEDULE = "schedule"
_APPROVAL = re.compile(r"\(approval of run (\d+)\)$")


def approval_started_by(by: str, held_run_id: int) -> str:
    """How a run that sends approved rows says who started it (and which run's rows it sends)."""
    return f"{by} (approval of run {held_run_id})"


def held_run_of(started_by: str) -> int | None:
    match = _APPROVAL.search(started_by)
    return int(match.group(1)) if match else None


@dataclass(frozen=True, slots=True)
class OverThreshold:
    """A planned row whose change goes over the tenant's threshold: what a push by hand asks about."""

    row: PlannedRow
    change: Change
    threshold: Threshold


def threshold_for(session: Session, *, tenant_id: int, target: str) -> Threshold:
    """The tenant's approval threshold for ``target`` (``Threshold.active`` is False when none is set)."""
    return threshold_of(automation_for(session, tenant_id=tenant_id, target=target))


def over_threshold(
    session: Session, *, tenant_id: int, target: str, planned: Sequence[PlannedRow]
) -> list[OverThreshold]:
    """The rows of a preview that a push would hold unless the operator confirms them, in the preview's order."""
    threshold = threshold_for(session, tenant_id=tenant_id, target=target)
    return [
        OverThreshold(row, change(row.before, row.after or 0.0), threshold)
        for row in planned
        if over(threshold, row.before, row.after)
    ]


@dataclass(frozen=True, slots=True)
class Gate:
    #: a scheduled run's threshold (None for an approval run)
    threshold: Threshold | None = None
    #: the run was started by hand (its held rows say how to send them)
    manual: bool = False
    #: an approval run's approved items: key -> (before, proposed) as they were held
    approved: dict[ItemKey, tuple[float | None, float | None]] | None = None

    def decide(self, planned: Sequence[PlannedRow]) -> tuple[Scope, list[RowResult]]:
        """The items to send (a scope), and the results of the items held."""
        held: list[RowResult] = []
        send: set[ItemKey] = set()
        if self.approved is not None:
            found = {row.key: row for row in planned}
            for key, (before, proposed) in self.approved.items():
                row = found.get(key)
                if row is None:
                    continue  # no longer pushed at all (unmapped since): nothing to send
                if (row.before, row.after) == (before, proposed):
                    send.add(key)
                else:
                    was = change(before, proposed or 0.0).describe()
                    now = change(row.before, row.after or 0.0).describe()
                    held.append(_held(row, f"changed since it was approved (was {was}, now {now}); approve it again"))
            return (lambda key: key in send), held
        assert self.threshold is not None
        waiting = set()
        todo = (
            "not sent without a confirmation: approve or reject it on Approvals, or push again confirming it"
            if self.manual
            else "approve or reject it on Approvals"
        )
        for row in planned:
            if over(self.threshold, row.before, row.after):
                waiting.add(row.key)
                held.append(
                    _held(
                        row,
                        f"{change(row.before, row.after or 0.0).describe()}: over the approval threshold "
                        f"({self.threshold.describe()}); {todo}",
                    )
                )
        return (lambda key: key not in waiting), held


def _held(row: PlannedRow, reason: str) -> RowResult:
    return RowResult(
        company=row.company,
        product=row.product or None,
        outcome=Outcome.AWAITING_APPROVAL,
        billable=row.billable,
        before=row.before,
        after=row.after,
        reason=reason,
    )


def gate_for(session: Session, run: PushRun) -> Gate | None:
    """The gate of this run, or None when it sends everything it would."""
    if run.dry_run:
        return None
    held_run = held_run_of(run.started_by)
    if held_run is not None:
        rows = session.scalars(
            select(Approval).where(
                Approval.tenant_id == run.tenant_id,
                Approval.run_id == held_run,
                Approval.decision == "approved",
                (Approval.sent_run_id.is_(None)) | (Approval.sent_run_id == run.id),
            )
        )
        return Gate(approved={(a.company_pk, a.product): (a.before, a.proposed) for a in rows})
    scheduled = run.started_by == SCHEDULE
    if not scheduled and run.approved_over_threshold:
        return None  # its operator confirmed the rows over the threshold
    threshold = threshold_for(session, tenant_id=run.tenant_id, target=run.target)
    return Gate(threshold=threshold, manual=not scheduled) if threshold.active else None


def narrowed(first: Scope | None, second: Scope) -> Scope:
    """Both scopes at once."""
    if first is None:
        return second
    return lambda key: first(key) and second(key)
