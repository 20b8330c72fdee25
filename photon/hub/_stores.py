"""Open the store a `--store` URL names (empty: SQLite in the data dir)."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from ._config import HubPaths
from ._sqlite import SqliteStore
from ._store import Store


async def open_store(url: str, *, data_dir: Path) -> Store:
    """Raises ConfigError for an unsupported URL."""
    if not url:
        store: Store = SqliteStore(HubPaths(root=data_dir).database)
    elif url.startswith("sqlite:///"):
        store = SqliteStore(Path(url.removeprefix("sqlite:///")))
    else:
        raise ConfigError(f"unsupported store URL {url!r} (this version supports sqlite:///PATH)")
    await store.open()
    return store
