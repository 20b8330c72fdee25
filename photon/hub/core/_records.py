"""What the hub keeps about tasks, agents, credentials and workflows (frozen values)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...model import Failure, Role, StepState, TaskSpec, TaskState, WorkflowState


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptRef:
    """One attempt of a task: results and cancels name it, so stale ones can be refused."""

    task_id: str
    attempt: int
    epoch: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRecord:
    id: str
    spec: TaskSpec
    state: TaskState
    created_at: float
    attempt: int = 0
    epoch: int = 0
    agent_id: str = ""
    outputs: Mapping[str, Any] | None = None
    failure: Failure | None = None
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def ref(self) -> AttemptRef:
        return AttemptRef(task_id=self.id, attempt=self.attempt, epoch=self.epoch)


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskEventRecord:
    task_id: str
    seq: int
    attempt: int
    kind: str
    message: str
    data: Mapping[str, Any]
    time: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRecord:
    id: str
    name: str
    hostname: str
    labels: Mapping[str, str]
    certificate_serial: str
    certificate_expires_at: float
    joined_at: float
    draining: bool = False
    removed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinTokenRecord:
    id: str
    secret_hash: str
    labels: Mapping[str, str]
    uses_left: int
    expires_at: float
    created_at: float
    revoked: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRecord:
    """Someone allowed on the admin API: a person or a script, with one role."""

    name: str
    role: Role
    created_at: float
    created_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKeyRecord:
    id: str
    user: str
    role: Role
    secret_hash: str
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretRecord:
    """One version of a secret, sealed: `nonce` and `ciphertext` (AES-256-GCM under the hub's
    secrets key, the name and version bound as associated data); never the value."""

    name: str
    version: int
    nonce: bytes = field(repr=False)
    ciphertext: bytes = field(repr=False)
    set_by: str
    set_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowRecord:
    id: str
    name: str
    document: Mapping[str, Any]  # the submitted file, parsed; re-read on a hub restart
    inputs: Mapping[str, Any]
    state: WorkflowState
    created_at: float
    finished_at: float | None = None
    message: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRecord:
    workflow_id: str
    step_id: str
    state: StepState = StepState.WAITING
    task_ids: tuple[str, ...] = ()
    outputs: Any = None  # a mapping, or a list of them for a fanned-out step
    started_at: float | None = None
    finished_at: float | None = None
    message: str = ""
