"""Secrets: values sealed under the hub's secrets key, versioned in the store, opened only for
the `Assign` of a task that references them."""

from ._box import KEY_BYTES as KEY_BYTES
from ._box import NONCE_BYTES as NONCE_BYTES
from ._box import SecretBox as SecretBox
from ._box import load_key as load_key
from ._secrets import SecretInfo as SecretInfo
from ._secrets import Secrets as Secrets
from ._secrets import check_value as check_value

__all__ = [
    "KEY_BYTES",
    "NONCE_BYTES",
    "SecretBox",
    "SecretInfo",
    "Secrets",
    "check_value",
    "load_key",
]
