"""ConnectWise Manage as a billing target (``TARGET``); the push's own steps are in ``targets.connectwise.push``."""

from seatsync.targets.connectwise.target import TARGET, ConnectWiseTarget

__all__ = ["TARGET", "ConnectWiseTarget"]
