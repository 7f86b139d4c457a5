"""A tenant mapped onto a ConnectWise sandbox served over real sockets (the push tests' world, reused)."""

from __future__ import annotations

from tests.push.conftest import sandbox, server, world

__all__ = ["sandbox", "server", "world"]
