"""Open the store a `--store` URL names (empty: SQLite at the default path)."""

from __future__ import annotations

from pathlib import Path

from ...errors import ConfigError
from ..stats import HubStats
from ._protocol import Store
from .sqlite import SqliteStore


async def open_store(url: str, *, default_path: Path, stats: HubStats | None = None) -> Store:
    """Raises ConfigError for an unsupported URL, StoreError when the store cannot be opened.
    The store times its commits into `stats`."""
    if not url:
        store: Store = SqliteStore(default_path, stats=stats)
    elif url.startswith("sqlite:///"):
        store = SqliteStore(Path(url.removeprefix("sqlite:///")), stats=stats)
    else:
        raise ConfigError(f"unsupported store URL {url!r} (this version supports sqlite:///PATH)")
    await store.open()
    return store
