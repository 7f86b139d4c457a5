"""What the web app keeps for its lifetime: settings, database, clock, the push dispatcher."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from seatsync.config import Settings
from seatsync.web.auth import Clock

if TYPE_CHECKING:
    from seatsync.web.dispatch import Dispatcher


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    #: None: Secure cookies when the request came over HTTPS (directly or per X-Forwarded-Proto)
    secure_cookies: bool | None = None
    dispatcher: Dispatcher | None = field(default=None)
