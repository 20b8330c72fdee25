"""What the client hands to scripts: plain frozen values, converted from the wire at the edge."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .._bounds import READ
from ..model import AgentState, Failure, StepState, TaskSpec, TaskState, WorkflowState
from ..v1 import admin_pb2, common_pb2
from ..wire import (
    failure_from_proto,
    lenient_json,
    lenient_object,
    spec_from_proto,
    state_from_proto,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Task:
    """A task as the hub has it: what was submitted (`spec`) and how it is going."""

    id: str
    spec: TaskSpec
    state: TaskState
    attempt: int
    agent_id: str
    outputs: Mapping[str, Any] | None
    failure: Failure | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    waiting_reason: str = ""

    @property
    def tool(self) -> str:
        return self.spec.tool

    @property
    def action(self) -> str:
        return self.spec.action

    @property
    def inputs(self) -> Mapping[str, Any]:
        return self.spec.inputs

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        """Plain data, the spec's fields next to the task's own (for JSON and YAML)."""
        data = asdict(self)
        spec = data.pop("spec")
        return {"id": data.pop("id"), **spec, **data}


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskEvent:
    seq: int
    attempt: int
    kind: str
    message: str
    data: Mapping[str, Any]
    time: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Tool:
    name: str
    version: str
    actions: tuple[str, ...]
    available: bool
    enabled: bool
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Agent:
    id: str
    name: str
    hostname: str
    state: AgentState
    labels: Mapping[str, str]
    slots: int
    running_tasks: int
    version: str
    platform: str
    tools: tuple[Tool, ...]
    metrics: Mapping[str, float]
    joined_at: float
    connected_at: float | None
    last_heartbeat_at: float | None
    certificate_expires_at: float
    quota_blocks: Mapping[str, float] = field(default_factory=dict)  # tool -> until (Unix)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinTokenInfo:
    id: str
    labels: Mapping[str, str]
    uses_left: int
    expires_at: float
    revoked: bool
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    name: str
    role: str
    created_at: float
    created_by: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretInfo:
    """A secret as the hub describes it: its latest version, never its value."""

    name: str
    version: int
    set_by: str
    set_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class CostRow:
    """One group of ended tasks in a cost report and what AI tools reported they spent."""

    key: str
    tasks: int
    cost_usd: float
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_creation_tokens: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class CostReport:
    """Rows (the costliest first; by day, oldest first), their total, and whether more tasks
    ended in the period than one report reads (`truncated`: the rows count the earliest)."""

    rows: tuple[CostRow, ...]
    total: CostRow
    truncated: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    seq: int
    time: float
    actor: str
    action: str
    target: str
    outcome: str
    detail: Mapping[str, Any]
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def audit_record_from_proto(msg: admin_pb2.AuditRecord) -> AuditRecord:
    detail = _json(msg.detail_json)
    return AuditRecord(
        seq=msg.seq,
        time=msg.time,
        actor=msg.actor,
        action=msg.action,
        target=msg.target,
        outcome=msg.outcome,
        detail=detail if isinstance(detail, dict) else {},
        hash=msg.hash,
    )


def user_from_proto(msg: admin_pb2.User) -> User:
    return User(name=msg.name, role=msg.role, created_at=msg.created_at, created_by=msg.created_by)


def secret_from_proto(msg: admin_pb2.Secret) -> SecretInfo:
    return SecretInfo(name=msg.name, version=msg.version, set_by=msg.set_by, set_at=msg.set_at)


def cost_row_from_proto(msg: admin_pb2.CostRow) -> CostRow:
    return CostRow(
        key=msg.key,
        tasks=msg.tasks,
        cost_usd=msg.cost_usd,
        input_tokens=msg.input_tokens,
        output_tokens=msg.output_tokens,
        cache_read_tokens=msg.cache_read_tokens,
        cache_creation_tokens=msg.cache_creation_tokens,
    )


def cost_report_from_proto(msg: admin_pb2.ReportCostResponse) -> CostReport:
    return CostReport(
        rows=tuple(cost_row_from_proto(r) for r in msg.rows),
        total=cost_row_from_proto(msg.total),
        truncated=msg.truncated,
    )


def _opt(value: float) -> float | None:
    return value or None


def _json(text: str) -> Any:
    """What the hub sent as JSON, within the client's read bounds: nested too deeply to show
    (old data, a hub set to take more), it reads as `{"omitted": why}`."""
    return lenient_json(text, READ)


def task_from_proto(msg: admin_pb2.Task) -> Task:
    return Task(
        id=msg.spec.id,
        spec=spec_from_proto(msg.spec, inputs=READ, lenient=True),
        state=state_from_proto(msg.state) or TaskState.QUEUED,
        attempt=msg.attempt,
        agent_id=msg.agent_id,
        outputs=_json(msg.outputs_json),
        failure=failure_from_proto(msg.failure) if msg.HasField("failure") else None,
        created_at=msg.created_at,
        started_at=_opt(msg.started_at),
        finished_at=_opt(msg.finished_at),
        waiting_reason=msg.waiting_reason,
    )


def event_from_proto(msg: common_pb2.TaskEvent) -> TaskEvent:
    return TaskEvent(
        seq=msg.seq,
        attempt=msg.attempt,
        kind=msg.kind,
        message=msg.message,
        data=lenient_object(msg.data_json, READ),
        time=msg.time,
    )


def agent_from_proto(msg: admin_pb2.Agent) -> Agent:
    metrics = msg.metrics
    return Agent(
        id=msg.id,
        name=msg.name,
        hostname=msg.hostname,
        state=AgentState[admin_pb2.AgentState.Name(msg.state).removeprefix("AGENT_STATE_")],
        labels=dict(msg.labels),
        slots=msg.slots,
        running_tasks=msg.running_tasks,
        version=msg.version,
        platform=msg.platform,
        tools=tuple(
            Tool(
                name=t.name,
                version=t.version,
                actions=tuple(a.name for a in t.actions),
                available=t.available,
                enabled=t.enabled,
                detail=t.detail,
            )
            for t in msg.tools
        ),
        metrics={
            "cpu_percent": metrics.cpu_percent,
            "memory_percent": metrics.memory_percent,
            "memory_used_bytes": metrics.memory_used_bytes,
            "memory_total_bytes": metrics.memory_total_bytes,
            "load1": metrics.load1,
            "load5": metrics.load5,
            "load15": metrics.load15,
            "disk_percent": metrics.disk_percent,
            "disk_free_bytes": metrics.disk_free_bytes,
            "running_tasks": metrics.running_tasks,
            "free_slots": metrics.free_slots,
        }
        if msg.HasField("metrics")
        else {},
        joined_at=msg.joined_at,
        connected_at=_opt(msg.connected_at),
        last_heartbeat_at=_opt(msg.last_heartbeat_at),
        certificate_expires_at=msg.certificate_expires_at,
        quota_blocks={b.tool: b.until for b in msg.quota_blocks},
    )


def join_token_from_proto(msg: admin_pb2.JoinToken) -> JoinTokenInfo:
    return JoinTokenInfo(
        id=msg.id,
        labels=dict(msg.labels),
        uses_left=msg.uses_left,
        expires_at=msg.expires_at,
        revoked=msg.revoked,
        created_at=msg.created_at,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowStep:
    id: str
    tool: str
    action: str
    needs: tuple[str, ...]
    state: StepState
    task_ids: tuple[str, ...]
    agent_ids: tuple[str, ...]
    outputs: Any
    started_at: float | None
    finished_at: float | None
    message: str
    tasks_done: int
    cost_usd: float
    last_event: TaskEvent | None

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.finished_at or time.time()) - self.started_at

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Workflow:
    id: str
    name: str
    state: WorkflowState
    inputs: Mapping[str, Any]
    created_at: float
    finished_at: float | None
    message: str
    steps: tuple[WorkflowStep, ...]
    budget_usd: float | None = None
    spent_usd: float = 0.0  # what its steps' tools reported spending

    def step(self, step_id: str) -> WorkflowStep:
        return next(s for s in self.steps if s.id == step_id)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def workflow_from_proto(msg: admin_pb2.Workflow) -> Workflow:
    return Workflow(
        id=msg.id,
        name=msg.name,
        state=WorkflowState[
            admin_pb2.WorkflowState.Name(msg.state).removeprefix("WORKFLOW_STATE_")
        ],
        inputs=lenient_object(msg.inputs_json, READ),
        created_at=msg.created_at,
        finished_at=_opt(msg.finished_at),
        message=msg.message,
        budget_usd=msg.budget_usd or None,
        spent_usd=msg.spent_usd,
        steps=tuple(
            WorkflowStep(
                id=s.id,
                tool=s.tool,
                action=s.action,
                needs=tuple(s.needs),
                state=StepState[admin_pb2.StepState.Name(s.state).removeprefix("STEP_STATE_")],
                task_ids=tuple(s.task_ids),
                agent_ids=tuple(s.agent_ids),
                outputs=_json(s.outputs_json),
                started_at=_opt(s.started_at),
                finished_at=_opt(s.finished_at),
                message=s.message,
                tasks_done=s.tasks_done,
                cost_usd=s.cost_usd,
                last_event=event_from_proto(s.last_event) if s.HasField("last_event") else None,
            )
            for s in msg.steps
        ),
    )
