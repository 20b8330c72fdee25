"""The default store: one SQLite file in the hub's data dir."""

from ._schema import MIGRATIONS as MIGRATIONS
from ._store import SqliteStore as SqliteStore

__all__ = ["MIGRATIONS", "SqliteStore"]
