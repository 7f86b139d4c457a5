"""What a HaloPSA push would do to one subscription, and why. Pure, no I/O.

- ``update``     the subscription's count will be set to the billable count;
- ``unchanged``  it already holds it (nothing is posted);
- ``skip``       not mapped, or no subscription chosen: nothing is sent;
- ``blocked``    the count was changed in HaloPSA since seatsync set it (drift), the subscription is inactive, or
                 it moved to another client: pushed only with the override (``force``);
- ``error``      the subscription could not be read (deleted, a permission missing ...).
"""

from __future__ import annotations

from dataclasses import dataclass

from seatsync.domain.planning import Action, CompanyRef, MappingState

__all__ = ["LicenceMapping", "LicencePlan", "LicenceView", "plan_licence"]


@dataclass(frozen=True, slots=True)
class LicenceMapping:
    """One company's (and product's) mapping, as the database holds it."""

    client_id: int | None
    licence_id: int | None
    #: the count seatsync last set on (or found right in) this subscription; None: never pushed
    last_pushed: float | None = None
    client_name: str | None = None
    licence_name: str | None = None

    @property
    def state(self) -> MappingState:
        if self.client_id is not None and self.licence_id is not None:
            return MappingState.COMPLETE
        if self.client_id is None and self.licence_id is None:
            return MappingState.UNMAPPED
        return MappingState.PARTIAL


@dataclass(frozen=True, slots=True)
class LicenceView:
    """What HaloPSA said about the subscription."""

    id: int
    client_id: int | None
    count: float
    active: bool = True
    name: str = ""
    notes: str | None = None


@dataclass(frozen=True, slots=True)
class LicencePlan:
    company: CompanyRef
    product: str
    mapping_state: MappingState
    billable: int
    current: float | None
    proposed: int | None
    action: Action
    reason: str | None = None

    def pushes(self, *, force: bool) -> bool:
        return self.action in (Action.UPDATE, Action.UNCHANGED) or (force and self.action is Action.BLOCKED)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def plan_licence(
    *,
    company: CompanyRef,
    product: str,
    billable: int,
    mapping: LicenceMapping | None,
    licence: LicenceView | None,
    read_error: str | None = None,
) -> LicencePlan:
    """The plan for one item. ``licence`` None with no ``read_error``: HaloPSA has no such subscription."""
    state = mapping.state if mapping is not None else MappingState.UNMAPPED

    def row(action: Action, reason: str | None = None, current: float | None = None) -> LicencePlan:
        proposed = billable if action in (Action.UPDATE, Action.UNCHANGED, Action.BLOCKED) else None
        return LicencePlan(company, product, state, billable, current, proposed, action, reason)

    if mapping is None or state is MappingState.UNMAPPED:
        return row(Action.SKIP, "not mapped to HaloPSA")
    if state is MappingState.PARTIAL:
        return row(Action.SKIP, "no subscription chosen: choose or create one in the mapper")
    if read_error is not None:
        return row(Action.ERROR, read_error)
    if licence is None:
        return row(
            Action.ERROR,
            f"subscription {mapping.licence_id} no longer exists in HaloPSA; choose or create another in the mapper",
        )
    current = licence.count
    if licence.client_id is not None and licence.client_id != mapping.client_id:
        return row(
            Action.BLOCKED,
            f"subscription {licence.id} now belongs to HaloPSA client {licence.client_id}, not {mapping.client_id}",
            current,
        )
    if not licence.active:
        return row(Action.BLOCKED, f"subscription {licence.name or licence.id} is inactive in HaloPSA", current)
    if current == billable:
        # right already (set by hand, or by the push of a company billed together on it): nothing to replace
        return row(Action.UNCHANGED, None, current)
    if mapping.last_pushed is not None and current != mapping.last_pushed:
        return row(
            Action.BLOCKED,
            f"the count was changed in HaloPSA since seatsync set it ({_number(mapping.last_pushed)} → "
            f"{_number(current)}); push with the override to replace it",
            current,
        )
    return row(Action.UPDATE, None, current)
