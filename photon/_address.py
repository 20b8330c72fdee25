"""Network addresses as `host:port` text."""

from __future__ import annotations


def split_address(address: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` into its parts; raises ValueError."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{address!r} is not host:port")
    return host.strip("[]"), int(port)
