"""Billing targets behind one seam: ``BillingTarget`` (``targets.base``), the registry (``targets.registry``) and one
package per target (``targets.connectwise``, ``targets.gradient`` ...)."""

from seatsync.targets.base import (
    BillingTarget,
    Choice,
    ClientFactory,
    ConnectionCheck,
    Disconnected,
    Evidence,
    ItemKey,
    ItemRef,
    PlannedRow,
    Prepared,
    PushOptions,
    RightCheck,
    RowResult,
    Scope,
)
from seatsync.targets.registry import all_targets, get_target, register, target_keys, unregister

__all__ = [
    "BillingTarget",
    "Choice",
    "ClientFactory",
    "ConnectionCheck",
    "Disconnected",
    "Evidence",
    "ItemKey",
    "ItemRef",
    "PlannedRow",
    "Prepared",
    "PushOptions",
    "RightCheck",
    "RowResult",
    "Scope",
    "all_targets",
    "get_target",
    "register",
    "target_keys",
    "unregister",
]
