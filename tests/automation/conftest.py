"""The push world (a tenant mapped onto a ConnectWise sandbox), a real SMTP server and a webhook receiver."""

from tests.notify.conftest import smtp_server, webhook_receiver
from tests.push.conftest import sandbox, server, world

__all__ = ["sandbox", "server", "smtp_server", "webhook_receiver", "world"]
