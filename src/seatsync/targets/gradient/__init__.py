"""Gradient MSP as a billing target (``TARGET``); the push's own steps are in ``targets.gradient.push``."""

from seatsync.targets.gradient.target import TARGET, GradientTarget

__all__ = ["TARGET", "GradientTarget"]
