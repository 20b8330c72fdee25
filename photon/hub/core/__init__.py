"""The hub's core: frozen values and pure rules every other layer builds on (no I/O)."""

from ._agents import AgentView as AgentView
from ._audit import GENESIS as AUDIT_GENESIS
from ._audit import AuditEntry as AuditEntry
from ._audit import AuditHead as AuditHead
from ._audit import AuditRecord as AuditRecord
from ._audit import first_break as first_audit_break
from ._audit import link as link_audit
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
from ._records import UserRecord as UserRecord
from ._records import WorkflowRecord as WorkflowRecord
from ._retry import AGENT_SPECIFIC as AGENT_SPECIFIC
from ._retry import FINAL as FINAL
from ._retry import retry_delay as retry_delay
from ._usage import NO_USAGE as NO_USAGE
from ._usage import TOKEN_KINDS as TOKEN_KINDS
from ._usage import Usage as Usage
from ._usage import usage_of as usage_of

__all__ = [
    "AGENT_SPECIFIC",
    "AUDIT_GENESIS",
    "DEFAULT_LIMITS",
    "FINAL",
    "NO_USAGE",
    "TOKEN_KINDS",
    "AgentRecord",
    "AgentView",
    "ApiKeyRecord",
    "AttemptRef",
    "AuditEntry",
    "AuditHead",
    "AuditRecord",
    "JoinTokenRecord",
    "Limits",
    "SecretRecord",
    "StepRecord",
    "TaskEventRecord",
    "TaskRecord",
    "Usage",
    "UserRecord",
    "WorkflowRecord",
    "first_audit_break",
    "link_audit",
    "quote",
    "retry_delay",
    "usage_of",
]
