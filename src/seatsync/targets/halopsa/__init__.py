"""HaloPSA as a billing target."""

from seatsync.targets.halopsa.target import TARGET, HaloPSATarget

__all__ = ["TARGET", "HaloPSATarget"]
