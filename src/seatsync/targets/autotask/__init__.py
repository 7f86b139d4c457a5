"""Autotask PSA as a billing target (``TARGET``): recurring-service contract units and a report on a note."""

from seatsync.targets.autotask.target import TARGET, AutotaskTarget

__all__ = ["TARGET", "AutotaskTarget"]
