"""What the web app keeps for its lifetime: settings, database, clock, the push dispatcher."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from seatsync.config import Settings
from seatsync.services.companies import FirstSeenCache
from seatsync.services.directory import DirectoryCache
from seatsync.web.auth import Clock

if TYPE_CHECKING:
    from seatsync.web.dispatch import Dispatcher, ProgressBoard
    from seatsync.web.mapper import CountCache, OutcomeCache


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    #: sessions for endpoints that only read (``local_read``): on PostgreSQL in autocommit, which saves the BEGIN
    #: and COMMIT round trips and sees what it saw anyway (READ COMMITTED takes a new snapshot for every statement)
    read_sessions: sessionmaker[Session]
    clock: Clock
    #: None: Secure cookies when the request came over HTTPS (directly or per X-Forwarded-Proto)
    secure_cookies: bool | None = None
    dispatcher: Dispatcher | None = field(default=None)
    progress: ProgressBoard = field(default_factory=lambda: _board())
    #: billable counts reused while the data is unchanged (the mapper's column)
    counts: CountCache = field(default_factory=lambda: _counts())
    #: each tenant's companies and mappings, reused while its directory revision is unchanged
    directories: DirectoryCache = field(default_factory=DirectoryCache)
    #: each company's first instant in the data (the Companies page's "Since"), reused while no event is added
    first_seen: FirstSeenCache = field(default_factory=FirstSeenCache)
    #: which companies the push-result filters show, reused while no run of the period runs
    outcomes: OutcomeCache = field(default_factory=lambda: _outcomes())


def _board() -> ProgressBoard:
    from seatsync.web.dispatch import ProgressBoard

    return ProgressBoard()


def _counts() -> CountCache:
    from seatsync.web.mapper import CountCache

    return CountCache()


def _outcomes() -> OutcomeCache:
    from seatsync.web.mapper import OutcomeCache

    return OutcomeCache()
