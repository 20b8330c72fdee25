"""Network addresses as `host:port` text."""

from __future__ import annotations

import os

from .errors import ConfigError


def split_address(address: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` into its parts; raises ValueError."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{address!r} is not host:port")
    return host.strip("[]"), int(port)


def listen_error(address: str, error: OSError) -> ConfigError:
    """The one line for an address that cannot be listened on (in use, not ours, unknown)."""
    reason = os.strerror(error.errno) if error.errno else str(error)
    return ConfigError(f"cannot listen on {address}: {reason}")
