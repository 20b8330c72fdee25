"""Value types shared by the hub, the agent and plugins (no I/O, no generated code)."""

from __future__ import annotations

from enum import StrEnum


class TaskState(StrEnum):
    """Where a task is in its lifecycle (SPEC §6)."""

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
