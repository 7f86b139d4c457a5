"""Secrets at rest: Fernet (AES-128-CBC + HMAC) keyed by ``SEATSYNC_SECRET_KEY`` or a 0600 key file.

The key file is ``SEATSYNC_KEY_FILE``, else beside the SQLite database and named after it (``key_file_for``); a
PostgreSQL database needs one of the two settings. A key file is created only when a secret is sealed into a
database that holds none yet, so a command run beside a database encrypted with another key fails, naming the
key it tried, and creates nothing.

``SecretBox.seal`` / ``open`` turn a JSON-able dict into an opaque token and back. Rotation keeps the old
keys readable through ``MultiFernet`` while everything is re-encrypted under the new one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from seatsync.config import Settings
from seatsync.errors import ConfigurationError

#: the key file's name beside a SQLite database before keys were named after their database
DEFAULT_KEY_FILE = "seatsync.key"


def holds_secrets(session: Session) -> bool:
    """Whether the database has any sealed secret (an integration's credentials, a notification channel's URL)."""
    from seatsync.db.models import Integration, NotificationChannel

    return any(
        session.scalar(select(table.id).where(table.secret.is_not(None)).limit(1)) is not None
        for table in (Integration, NotificationChannel)
    )


def sqlite_file(database_url: str | URL | None) -> Path | None:
    """The file of a SQLite database URL (``None`` for PostgreSQL or an in-memory database)."""
    if not database_url:
        return None
    from seatsync.db.engine import normalise_url

    url = database_url if isinstance(database_url, URL) else make_url(normalise_url(database_url))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).resolve()


def key_file_for(settings: Settings, database_url: str | URL | None) -> Path:
    """Where the key file is: ``SEATSYNC_KEY_FILE``, else beside the SQLite database, named after it
    (``billing.db`` → ``billing.key``; ``seatsync.db`` → ``seatsync.key``; an older ``seatsync.key`` in the
    same folder is still read). Never the working directory's: a command run elsewhere finds the same key."""
    if settings.key_file is not None:
        return settings.key_file.expanduser().resolve()
    database = sqlite_file(database_url)
    if database is None:
        raise ConfigurationError(
            "secrets at rest need a key: set SEATSYNC_SECRET_KEY or SEATSYNC_KEY_FILE "
            "(a PostgreSQL database has no folder to keep a key file in)"
        )
    named = database.with_suffix(".key")
    legacy = database.parent / DEFAULT_KEY_FILE
    return legacy if not named.exists() and legacy.exists() else named


def _read_key_file(path: Path) -> list[bytes]:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigurationError(f"key file {path} is readable by others (mode {mode:o}); chmod 600 it")
    keys = [line.strip().encode() for line in path.read_text().splitlines() if line.strip()]
    if not keys:
        raise ConfigurationError(f"key file {path} is empty")
    return keys


def _create_key_file(path: Path) -> list[bytes]:
    key = Fernet.generate_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.decode() + "\n")
    return [key]


def load_keys(settings: Settings, *, database_url: str | URL | None = None, may_create: bool = False) -> list[bytes]:
    """Newest key first. ``SEATSYNC_SECRET_KEY`` may list several, comma-separated (newest first).

    A missing key file is created only with ``may_create`` (the caller checked that the database holds no
    secret yet); otherwise its absence is an error naming the file."""
    if settings.secret_key is not None:
        keys = [k.strip().encode() for k in settings.secret_key.get_secret_value().split(",") if k.strip()]
    else:
        path = key_file_for(settings, database_url)
        if path.exists():
            keys = _read_key_file(path)
        elif may_create:
            keys = _create_key_file(path)
        else:
            raise ConfigurationError(
                f"the key file {path} does not exist, but this database holds encrypted secrets: run the command "
                "beside the database it belongs to, or point SEATSYNC_KEY_FILE (or SEATSYNC_SECRET_KEY) at the key "
                "they were encrypted with; no new key was made"
            )
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(
                "the secret key is not a Fernet key (32 url-safe base64-encoded bytes); "
                "make one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
            ) from exc
    return keys


def key_source(settings: Settings, database_url: str | URL | None) -> str:
    """Where the key comes from, in words for a message (never the key)."""
    if settings.secret_key is not None:
        return "SEATSYNC_SECRET_KEY"
    try:
        return f"the key file {key_file_for(settings, database_url)}"
    except ConfigurationError:
        return "no key"


class SecretBox:
    def __init__(self, keys: list[bytes], source: str = "the configured key") -> None:
        if not keys:
            raise ConfigurationError("no secret key configured")
        self._fernet = MultiFernet([Fernet(k) for k in keys])
        #: where the keys came from, for messages ("the key file /srv/seatsync/seatsync.key")
        self.source = source

    @classmethod
    def from_settings(cls, settings: Settings, *, database_url: str | URL | None = None) -> SecretBox:
        """Keys that must exist already (opening secrets)."""
        url = database_url or settings.database_url
        return cls(load_keys(settings, database_url=url), key_source(settings, url))

    @classmethod
    def for_session(cls, session: Session, settings: Settings, *, sealing: bool = False) -> SecretBox:
        """The keys of the session's database. Sealing may create the key file, but only while the database holds
        no secret at all: a database encrypted with another key is never given a new one."""
        url = session.get_bind().engine.url
        may_create = sealing and not holds_secrets(session)
        return cls(load_keys(settings, database_url=url, may_create=may_create), key_source(settings, url))

    def __repr__(self) -> str:
        return "SecretBox(<keys hidden>)"

    def seal(self, data: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(data, sort_keys=True).encode())

    def open(self, token: bytes) -> dict[str, Any]:
        try:
            value = json.loads(self._fernet.decrypt(token))
        except InvalidToken as exc:
            raise ConfigurationError(
                f"a stored secret cannot be decrypted with {self.source}: it was encrypted with another key. "
                "Run the command beside the database it belongs to, or point SEATSYNC_KEY_FILE (or "
                "SEATSYNC_SECRET_KEY) at the key it was encrypted with"
            ) from exc
        assert isinstance(value, dict)
        return value

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt under the newest key."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken as exc:
            raise ConfigurationError("a stored secret cannot be decrypted with any configured key") from exc
