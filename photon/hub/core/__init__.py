"""The hub's core: frozen values and pure rules every other layer builds on (no I/O)."""

from ._agents import AgentView as AgentView
from ._limits import DEFAULT_LIMITS as DEFAULT_LIMITS
from ._limits import Limits as Limits
from ._limits import quote as quote
from ._records import AgentRecord as AgentRecord
from ._records import ApiKeyRecord as ApiKeyRecord
from ._records import AttemptRef as AttemptRef
from ._records import JoinTokenRecord as JoinTokenRecord
from ._records import SecretRecord as SecretRecord
from ._records import StepRecord as StepRecord
from ._records import TaskEventRecord as TaskEventRecord
from ._records import TaskRecord as TaskRecord
from ._records import WorkflowRecord as WorkflowRecord
from ._retry import AGENT_SPECIFIC as AGENT_SPECIFIC
from ._retry import FINAL as FINAL
from ._retry import retry_delay as retry_delay

__all__ = [
    "AGENT_SPECIFIC",
    "DEFAULT_LIMITS",
    "FINAL",
    "AgentRecord",
    "AgentView",
    "ApiKeyRecord",
    "AttemptRef",
    "JoinTokenRecord",
    "Limits",
    "SecretRecord",
    "StepRecord",
    "TaskEventRecord",
    "TaskRecord",
    "WorkflowRecord",
    "quote",
    "retry_delay",
]
