"""The asyncio client of the admin API, and client contexts.

Tasks are described with `task_spec()` (a `photon.model.TaskSpec`) and come back as `Task`;
failures are `photon.model.Failure`. No generated protobuf type crosses this API.
"""

from ._client import PhotonClient as PhotonClient
from ._client import task_spec as task_spec
from ._context import ClientContext as ClientContext
from ._context import ContextEntry as ContextEntry
from ._context import default_config_path as default_config_path
from ._context import delete_context as delete_context
from ._context import list_contexts as list_contexts
from ._context import load_context as load_context
from ._context import save_context as save_context
from ._context import use_context as use_context
from ._types import Agent as Agent
from ._types import AuditRecord as AuditRecord
from ._types import CostReport as CostReport
from ._types import CostRow as CostRow
from ._types import JoinTokenInfo as JoinTokenInfo
from ._types import SecretInfo as SecretInfo
from ._types import Task as Task
from ._types import TaskEvent as TaskEvent
from ._types import Tool as Tool
from ._types import User as User
from ._types import Workflow as Workflow
from ._types import WorkflowStep as WorkflowStep

__all__ = [
    "Agent",
    "AuditRecord",
    "ClientContext",
    "ContextEntry",
    "CostReport",
    "CostRow",
    "JoinTokenInfo",
    "PhotonClient",
    "SecretInfo",
    "Task",
    "TaskEvent",
    "Tool",
    "User",
    "Workflow",
    "WorkflowStep",
    "default_config_path",
    "delete_context",
    "list_contexts",
    "load_context",
    "save_context",
    "task_spec",
    "use_context",
]
