"""Secrets at rest: Fernet (AES-128-CBC + HMAC) keyed by ``SEATSYNC_SECRET_KEY`` or a 0600 key file.

``SecretBox.seal`` / ``open`` turn a JSON-able dict into an opaque token and back. Rotation keeps the old
keys readable through ``MultiFernet`` while everything is re-encrypted under the new one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from seatsync.config import Settings
from seatsync.errors import ConfigurationError


def _read_or_create_key_file(path: Path) -> list[bytes]:
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise ConfigurationError(f"key file {path} is readable by others (mode {mode:o}); chmod 600 it")
        keys = [line.strip().encode() for line in path.read_text().splitlines() if line.strip()]
        if not keys:
            raise ConfigurationError(f"key file {path} is empty")
        return keys
    key = Fernet.generate_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.decode() + "\n")
    return [key]


def load_keys(settings: Settings) -> list[bytes]:
    """Newest key first. ``SEATSYNC_SECRET_KEY`` may list several, comma-separated (newest first)."""
    if settings.secret_key is not None:
        keys = [k.strip().encode() for k in settings.secret_key.get_secret_value().split(",") if k.strip()]
    else:
        keys = _read_or_create_key_file(settings.key_file)
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(
                "the secret key is not a Fernet key (32 url-safe base64-encoded bytes); "
                "make one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
            ) from exc
    return keys


class SecretBox:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ConfigurationError("no secret key configured")
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        return cls(load_keys(settings))

    def __repr__(self) -> str:
        return "SecretBox(<keys hidden>)"

    def seal(self, data: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(data, sort_keys=True).encode())

    def open(self, token: bytes) -> dict[str, Any]:
        try:
            value = json.loads(self._fernet.decrypt(token))
        except InvalidToken as exc:
            raise ConfigurationError(
                "a stored secret cannot be decrypted with the configured key; "
                "was SEATSYNC_SECRET_KEY or the key file changed without `seatsync rotate-key`?"
            ) from exc
        assert isinstance(value, dict)
        return value

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt under the newest key."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken as exc:
            raise ConfigurationError("a stored secret cannot be decrypted with any configured key") from exc
