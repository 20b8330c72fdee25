"""The asyncio client of the admin API, and client contexts."""

from ._client import PhotonClient as PhotonClient
from ._client import task_spec as task_spec
from ._context import ClientContext as ClientContext
from ._context import load_context as load_context
from ._context import save_context as save_context
from ._types import Agent as Agent
from ._types import JoinTokenInfo as JoinTokenInfo
from ._types import Task as Task
from ._types import TaskEvent as TaskEvent
from ._types import TaskFailure as TaskFailure
from ._types import Tool as Tool
from ._types import Workflow as Workflow
from ._types import WorkflowStep as WorkflowStep

__all__ = [
    "Agent",
    "ClientContext",
    "JoinTokenInfo",
    "PhotonClient",
    "Task",
    "TaskEvent",
    "TaskFailure",
    "Tool",
    "Workflow",
    "WorkflowStep",
    "load_context",
    "save_context",
    "task_spec",
]
