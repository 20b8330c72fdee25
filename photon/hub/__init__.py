"""The hub daemon: the mesh and admin services, the task and workflow engines, the store.

The hub is layered; each layer imports only the layers below it, never above:

    edge     api/  mesh/  web/          the ports: gRPC (and protobuf) stop here
    domain   tasks/  workflows/  fleet/  security/
    store    store/ (and store/sqlite/)  the persistence contract and its implementations
    core     core/                       frozen values and pure rules

Within the domain, workflows build on tasks, and tasks on the fleet. `Hub` (`_hub.py`) is the
composition root above them all. tests/unit/test_layers.py holds the code to this, and
docs/ARCHITECTURE.md says where each thing lives.
"""

from ._config import HubConfig as HubConfig
from ._config import HubPaths as HubPaths
from ._hub import Hub as Hub
from ._init import InitResult as InitResult
from ._init import init_hub as init_hub
from .core import Limits as Limits
from .security import AGENT_CERT_TTL as AGENT_CERT_TTL
from .security import check_agent_cert_ttl as check_agent_cert_ttl
from .store import SqliteStore as SqliteStore
from .store import Store as Store
from .tasks import ToolLimit as ToolLimit

__all__ = [
    "AGENT_CERT_TTL",
    "Hub",
    "HubConfig",
    "HubPaths",
    "InitResult",
    "Limits",
    "SqliteStore",
    "Store",
    "ToolLimit",
    "check_agent_cert_ttl",
    "init_hub",
]
