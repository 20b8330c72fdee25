"""The hub daemon: mesh and admin services, scheduler, store, auth."""

from ._config import HubConfig as HubConfig
from ._config import HubPaths as HubPaths
from ._hub import Hub as Hub
from ._init import InitResult as InitResult
from ._init import init_hub as init_hub
from ._scheduler import ToolLimit as ToolLimit
from ._sqlite import SqliteStore as SqliteStore
from ._store import Store as Store

__all__ = [
    "Hub",
    "HubConfig",
    "HubPaths",
    "InitResult",
    "SqliteStore",
    "Store",
    "ToolLimit",
    "init_hub",
]
