"""Alembic, driven from code: ``seatsync migrate`` and the automatic upgrade at start-up.

Every command checks the schema before it works; when the database is already at the newest revision that check is
one small query and a look at the revision files' names and headers (``is_current``), so a command does not load
Alembic and every migration script each time it starts.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
_HEADER = re.compile(r'^(revision|down_revision) = (?:"([^"]+)"|None)$', re.M)


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


@cache
def declared_head() -> str | None:
    """The head of the revision chain, read from the files' ``revision =`` / ``down_revision =`` lines (None when
    they do not make one chain: then the caller asks Alembic)."""
    revisions: dict[str, str | None] = {}
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = {name: value or None for name, value in _HEADER.findall(path.read_text())}
        if "revision" not in found or found["revision"] is None:
            return None
        revisions[found["revision"]] = found.get("down_revision")
    parents = set(revisions.values())
    heads = [r for r in revisions if r not in parents]
    return heads[0] if len(heads) == 1 else None


def is_current(engine: Engine) -> bool:
    """Whether the database is at the newest revision, without loading Alembic."""
    head = declared_head()
    if head is None:
        return False
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return False
        versions = [row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))]
    return versions == [head]


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Bring the schema to the newest revision; returns (before, after)."""
    from alembic import command

    before = current_revision(engine)
    command.upgrade(alembic_config(engine), "head")
    return before, current_revision(engine)


def ensure_current(engine: Engine) -> None:
    """Upgrade unless the database is at the newest revision already (the cheap check first)."""
    if not is_current(engine):
        upgrade(engine)
