"""`SecretBox`: AES-256-GCM sealing of secret values under the hub's secrets key (no I/O but
reading the key file)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ...errors import ConfigError, SecretError

KEY_BYTES: Final = 32  # AES-256
NONCE_BYTES: Final = 12  # 96 bits, fresh for every value sealed


def _associated_data(name: str, version: int) -> bytes:
    # Binds a ciphertext to its row: one moved to another name or version does not open.
    return f"photon-secret\x00{name}\x00{version}".encode()


class SecretBox:
    """Seals and opens secret values with one 32-byte key.

    Each value gets a fresh random nonce; the secret's name and version are the associated
    data, so a sealed value copied to another name or version fails to open.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ConfigError(f"the secrets key must be {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "SecretBox(<key>)"

    def seal(self, name: str, version: int, value: bytes) -> tuple[bytes, bytes]:
        """(nonce, ciphertext with its tag) of `value` as version `version` of `name`."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce, self._aead.encrypt(nonce, value, _associated_data(name, version))

    def open(self, name: str, version: int, nonce: bytes, ciphertext: bytes) -> bytes:
        """The value sealed as version `version` of `name`. Raises SecretError when it does not
        open (another key sealed it, or the bytes, name or version were altered)."""
        try:
            return self._aead.decrypt(nonce, ciphertext, _associated_data(name, version))
        except (InvalidTag, ValueError):
            raise SecretError(
                f"secret {name!r} version {version} does not open: the hub's secrets key is"
                " not the one that sealed it, or the stored value was altered"
            ) from None


def load_key(path: Path) -> bytes:
    """The secrets key in `path`. Raises ConfigError when it is missing or not 32 bytes."""
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing; run: photon-hub init") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the secrets key {path}: {exc.strerror}") from None
    if len(key) != KEY_BYTES:
        raise ConfigError(f"{path} must hold {KEY_BYTES} bytes, not {len(key)}")
    return key
