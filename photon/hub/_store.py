"""The hub's persistence contract: records and the `Store` protocol both implementations follow."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..model import FailureClass, Role, StepState, TaskState, WorkflowState


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    max_attempts: int = 3
    initial_backoff: float = 1.0
    multiplier: float = 2.0
    max_backoff: float = 100.0


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSpec:
    """What to run and where, as submitted (SPEC §6)."""

    tool: str
    action: str = ""
    inputs: Mapping[str, Any] = field(default_factory=dict)
    selector: str = ""
    agent: str = ""
    priority: int = 5
    timeout: float | None = None
    queue_timeout: float = 300.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    idempotency_key: str = ""
    locks: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    failure_class: FailureClass
    message: str
    retry_at: float | None = None


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
class ApiKeyRecord:
    id: str
    user: str
    role: Role
    secret_hash: str
    created_at: float


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


class Store(Protocol):
    """Durable state of the hub. Every write returns only after it is committed.

    Raises `photon.errors.NotFoundError` for unknown ids and `ConflictError` for duplicates.
    """

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    # enrolment
    async def add_join_token(self, token: JoinTokenRecord) -> None: ...

    async def list_join_tokens(self) -> list[JoinTokenRecord]: ...

    async def revoke_join_token(self, token_id: str) -> None: ...

    async def consume_join_token(self, token_id: str, agent: AgentRecord) -> None:
        """Spend one use of the token and add the agent in one transaction."""
        ...

    async def get_join_token(self, token_id: str) -> JoinTokenRecord: ...

    async def get_agent(self, agent_id: str) -> AgentRecord: ...

    async def list_agents(self) -> list[AgentRecord]: ...

    async def update_agent(self, agent: AgentRecord) -> None: ...

    # admin credentials
    async def add_api_key(self, key: ApiKeyRecord) -> None: ...

    async def get_api_key(self, key_id: str) -> ApiKeyRecord: ...

    async def count_api_keys(self) -> int: ...

    # tasks
    async def insert_tasks(self, tasks: Sequence[TaskRecord]) -> list[tuple[TaskRecord, bool]]:
        """Insert in one commit; for each, the task stored and True, or the earlier task with the
        same idempotency key and False."""
        ...

    async def update_task(
        self, task: TaskRecord, *, events: Sequence[TaskEventRecord] = ()
    ) -> None:
        """Write the task's state (its spec never changes) and append its events in one commit."""
        ...

    async def get_task(self, task_id: str) -> TaskRecord: ...

    async def get_tasks(self, task_ids: Collection[str]) -> list[TaskRecord]:
        """The tasks of these ids that exist, in no particular order."""
        ...

    async def list_tasks(
        self, *, state: TaskState | None = None, limit: int = 100
    ) -> list[TaskRecord]: ...

    async def list_unfinished_tasks(self) -> list[TaskRecord]: ...

    async def last_event_seqs(self) -> dict[str, int]:
        """The highest event seq of each unfinished task."""
        ...

    async def append_task_events(self, events: Sequence[TaskEventRecord]) -> None: ...

    async def list_task_events(
        self, task_id: str, *, after_seq: int = 0
    ) -> list[TaskEventRecord]: ...

    # workflows
    async def insert_workflow(
        self, workflow: WorkflowRecord, steps: Sequence[StepRecord]
    ) -> None: ...

    async def update_workflow(self, workflow: WorkflowRecord) -> None: ...

    async def update_step(self, step: StepRecord) -> None: ...

    async def get_workflow(self, workflow_id: str) -> tuple[WorkflowRecord, list[StepRecord]]: ...

    async def list_workflows(self, *, limit: int = 100) -> list[WorkflowRecord]: ...

    async def list_unfinished_workflows(self) -> list[WorkflowRecord]: ...
