"""Key rotation for secrets at rest (``seatsync rotate-key``).

With a key file: the new key is written as the file's first line with the old ones kept after it, every
``integrations.secret`` (and webhook URL, ``notification_channels.secret``) is re-encrypted under the new key in one transaction, and only then are the old
keys dropped from the file. A crash in between leaves a file that still opens everything.
With ``SEATSYNC_SECRET_KEY``: the secrets are re-encrypted under a new key and the caller is told to set
``SEATSYNC_SECRET_KEY`` to ``NEW,OLD`` (then, once every process has restarted, to ``NEW``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import Engine, select

from seatsync.config import Settings
from seatsync.db.engine import transaction
from seatsync.db.models import Integration, NotificationChannel
from seatsync.security.secrets import SecretBox, key_file_for, load_keys


@dataclass(frozen=True, slots=True)
class RotationResult:
    rotated: int
    key_file: Path | None
    #: set only when the key comes from SEATSYNC_SECRET_KEY: what to set it to now (keep it secret)
    new_environment_value: str | None = None

    def instructions(self) -> str:
        if self.key_file is not None:
            return f"re-encrypted {self.rotated} secret(s); the new key is in {self.key_file}"
        return (
            f"re-encrypted {self.rotated} secret(s) under a new key. Set SEATSYNC_SECRET_KEY to the value "
            "below (new key first, old key kept so running processes still read secrets) and restart; "
            "once every process runs with it, you may drop the old key after the comma.\n"
            f"SEATSYNC_SECRET_KEY={self.new_environment_value}"
        )


def _write_key_file(path: Path, keys: list[bytes]) -> None:
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("".join(k.decode() + "\n" for k in keys))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def rotate_key(engine: Engine, *, settings: Settings) -> RotationResult:
    """Generate a new key and re-encrypt every stored secret under it."""
    old_keys = load_keys(settings, database_url=engine.url)
    new_key = Fernet.generate_key()
    keys = [new_key, *old_keys]
    key_file = key_file_for(settings, engine.url) if settings.secret_key is None else None
    if key_file is not None:
        _write_key_file(key_file, keys)
    box = SecretBox(keys)
    with transaction(engine) as session:
        rows: list[Integration | NotificationChannel] = [
            *session.scalars(select(Integration).where(Integration.secret.is_not(None))),
            *session.scalars(select(NotificationChannel).where(NotificationChannel.secret.is_not(None))),
        ]
        for row in rows:
            assert row.secret is not None
            row.secret = box.rotate(row.secret)
    if key_file is not None:
        _write_key_file(key_file, [new_key])
        return RotationResult(len(rows), key_file)
    return RotationResult(len(rows), None, ",".join(k.decode() for k in keys))
