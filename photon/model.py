"""Value types shared by the hub, the agent, the client and plugins (no I/O, no generated code).

`TaskSpec` is the one list of a task's fields: the store, the wire converters and the client
all follow it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

DEFAULT_PRIORITY = 5
MAX_PRIORITY = 9
DEFAULT_QUEUE_TIMEOUT = 300.0


class TaskState(StrEnum):
    """Where a task is in its lifecycle (docs/tasks.md)."""

    WAITING = "WAITING"
    QUEUED = "QUEUED"
    ASSIGNED = "ASSIGNED"
    RUNNING = "RUNNING"
    RETRY_WAIT = "RETRY_WAIT"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED, TaskState.TIMED_OUT}
)


class FailureClass(StrEnum):
    """Why a task attempt failed; retry policy can differ per class."""

    AGENT_LOST = "agent_lost"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    TOOL_MISSING = "tool_missing"
    AUTH = "auth"
    QUOTA = "quota"
    TOOL_ERROR = "tool_error"
    INVALID_INPUT = "invalid_input"


class AgentState(StrEnum):
    """How the hub sees an agent."""

    CONNECTED = "connected"
    DRAINING = "draining"
    DISCONNECTED = "disconnected"  # stream gone, still inside the grace period
    LOST = "lost"


class Role(StrEnum):
    """Admin API roles, from least to most privileged."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        order = list(Role)
        return order.index(self) >= order.index(needed)


class WorkflowState(StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"

    @property
    def terminal(self) -> bool:
        return self is not WorkflowState.RUNNING


class StepState(StrEnum):
    WAITING = "WAITING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        return self not in (StepState.WAITING, StepState.RUNNING)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often a task is tried and how long it waits between attempts."""

    max_attempts: int = 3
    initial_backoff: float = 1.0
    multiplier: float = 2.0
    max_backoff: float = 100.0


class Isolation(StrEnum):
    """How a task's workspace checkout is shared: a worktree of its own, or one checkout that
    the repository's tasks take turns on."""

    WORKTREE = "worktree"
    SHARED = "shared"


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkspaceSpec:
    """A git checkout a task runs in (docs/tasks.md, "Workspaces"); `ref` "" is the
    repository's default branch."""

    repo: str
    ref: str = ""
    isolate: Isolation = Isolation.WORKTREE


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSpec:
    """What to run and where, as submitted (docs/tasks.md describes each field)."""

    tool: str
    action: str = ""
    inputs: Mapping[str, Any] = field(default_factory=dict)
    selector: str = ""
    agent: str = ""
    priority: int = DEFAULT_PRIORITY
    timeout: float | None = None
    queue_timeout: float = DEFAULT_QUEUE_TIMEOUT
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    idempotency_key: str = ""
    locks: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    continue_from: str = ""  # a task id: continue its AI session, on its agent
    fallback: Sequence[str] = ()  # tools to try when `tool` is out of quota on every agent
    budget_usd: float | None = None  # no more attempts once they have spent this
    workspace: WorkspaceSpec | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """Why an attempt failed; `retry_at` is the Unix time a quota resets, when the tool says."""

    failure_class: FailureClass
    message: str
    retry_at: float | None = None


# -- what an agent says about itself ---------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionInfo:
    name: str
    description: str = ""
    input_schema_json: str = ""  # JSON Schema of the inputs; empty accepts anything


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolInfo:
    """One plugin on one agent: usable when `available` (its tool was found) and `enabled`."""

    name: str
    version: str = ""
    actions: tuple[ActionInfo, ...] = ()
    default_action: str = ""
    available: bool = False
    enabled: bool = False
    detail: str = ""  # why it is unavailable, disabled or failed to load

    @property
    def ready(self) -> bool:
        return self.available and self.enabled


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentMetrics:
    cpu_percent: float = 0.0
    memory_percent: float = 0.0
    memory_used_bytes: int = 0
    memory_total_bytes: int = 0
    load1: float = 0.0
    load5: float = 0.0
    load15: float = 0.0
    disk_percent: float = 0.0
    disk_free_bytes: int = 0
    running_tasks: int = 0
    free_slots: int = 0
