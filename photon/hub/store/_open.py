"""Open the store a `--store` URL names (empty: SQLite at the default path)."""

from __future__ import annotations

from pathlib import Path

from ...errors import ConfigError
from ._protocol import Store
from .sqlite import SqliteStore


async def open_store(url: str, *, default_path: Path) -> Store:
    """Raises ConfigError for an unsupported URL, StoreError when the store cannot be opened."""
    if not url:
        store: Store = SqliteStore(default_path)
    elif url.startswith("sqlite:///"):
        store = SqliteStore(Path(url.removeprefix("sqlite:///")))
    else:
        raise ConfigError(f"unsupported store URL {url!r} (this version supports sqlite:///PATH)")
    await store.open()
    return store
