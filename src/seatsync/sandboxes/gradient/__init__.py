"""A faithful simulator of Gradient MSP's Synthesize vendor API (``seatsync sandbox gradient``)."""

from seatsync.sandboxes.gradient.app import SandboxApp, create_app
from seatsync.sandboxes.gradient.state import DEMO_PARTNER_TOKEN, DEMO_VENDOR_KEY, GradientSandbox, SandboxError

__all__ = ["DEMO_PARTNER_TOKEN", "DEMO_VENDOR_KEY", "GradientSandbox", "SandboxApp", "SandboxError", "create_app"]
