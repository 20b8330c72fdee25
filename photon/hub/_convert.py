"""Conversions between store records and the wire types (the transport edge)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgumentError
from ..model import FailureClass, TaskState
from ..v1 import admin_pb2, common_pb2
from ._store import Failure, RetryPolicy, TaskEventRecord, TaskRecord, TaskSpec

if TYPE_CHECKING:
    from ._workflows import Snapshot

MAX_PRIORITY = 9


def json_object(text: str, field: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidArgumentError(f"{field} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidArgumentError(f"{field} must be a JSON object")
    return value


def spec_from_proto(msg: common_pb2.TaskSpec) -> TaskSpec:
    """Validate a submitted spec. Raises InvalidArgumentError naming the field."""
    if not msg.tool:
        raise InvalidArgumentError("tool is required")
    priority = msg.priority if msg.HasField("priority") else 5
    if not 0 <= priority <= MAX_PRIORITY:
        raise InvalidArgumentError("priority must be between 0 and 9")
    if msg.timeout_seconds < 0 or msg.queue_timeout_seconds < 0:
        raise InvalidArgumentError("timeouts must not be negative")
    retry = RetryPolicy()
    if msg.HasField("retry"):
        if msg.retry.max_attempts < 0:
            raise InvalidArgumentError("retry.max_attempts must not be negative")
        retry = RetryPolicy(
            max_attempts=msg.retry.max_attempts or retry.max_attempts,
            initial_backoff=msg.retry.initial_backoff_seconds or retry.initial_backoff,
            multiplier=msg.retry.backoff_multiplier or retry.multiplier,
            max_backoff=msg.retry.max_backoff_seconds or retry.max_backoff,
        )
    return TaskSpec(
        tool=msg.tool,
        action=msg.action,
        inputs=json_object(msg.inputs_json, "inputs"),
        selector=msg.selector,
        agent=msg.agent,
        priority=priority,
        timeout=msg.timeout_seconds or None,
        queue_timeout=msg.queue_timeout_seconds or 300.0,
        retry=retry,
        idempotency_key=msg.idempotency_key,
        locks=tuple(msg.locks),
        env=dict(msg.env),
        labels=dict(msg.labels),
    )


def spec_to_proto(task_id: str, spec: TaskSpec) -> common_pb2.TaskSpec:
    return common_pb2.TaskSpec(
        id=task_id,
        tool=spec.tool,
        action=spec.action,
        inputs_json=json.dumps(dict(spec.inputs)),
        selector=spec.selector,
        agent=spec.agent,
        priority=spec.priority,
        timeout_seconds=spec.timeout or 0.0,
        queue_timeout_seconds=spec.queue_timeout,
        retry=common_pb2.RetryPolicy(
            max_attempts=spec.retry.max_attempts,
            initial_backoff_seconds=spec.retry.initial_backoff,
            backoff_multiplier=spec.retry.multiplier,
            max_backoff_seconds=spec.retry.max_backoff,
        ),
        idempotency_key=spec.idempotency_key,
        locks=list(spec.locks),
        env=dict(spec.env),
        labels=dict(spec.labels),
    )


def state_to_proto(state: TaskState) -> str:
    """The wire enum's name (message constructors accept names)."""
    return f"TASK_STATE_{state.name}"


def state_from_proto(value: int) -> TaskState | None:
    if value == common_pb2.TASK_STATE_UNSPECIFIED:
        return None
    name = common_pb2.TaskState.Name(value).removeprefix("TASK_STATE_")
    return TaskState[name]


def failure_to_proto(failure: Failure) -> common_pb2.Failure:
    return common_pb2.Failure(
        failure_class=f"FAILURE_CLASS_{failure.failure_class.name}",
        message=failure.message,
        retry_at=failure.retry_at or 0.0,
    )


def failure_from_proto(msg: common_pb2.Failure) -> Failure:
    name = common_pb2.FailureClass.Name(msg.failure_class).removeprefix("FAILURE_CLASS_")
    failure_class = FailureClass.TOOL_ERROR if name == "UNSPECIFIED" else FailureClass[name]
    return Failure(failure_class=failure_class, message=msg.message, retry_at=msg.retry_at or None)


def task_to_proto(task: TaskRecord, *, waiting_reason: str = "") -> admin_pb2.Task:
    msg = admin_pb2.Task(
        spec=spec_to_proto(task.id, task.spec),
        state=state_to_proto(task.state),
        attempt=task.attempt,
        epoch=task.epoch,
        agent_id=task.agent_id,
        outputs_json="" if task.outputs is None else json.dumps(dict(task.outputs)),
        created_at=task.created_at,
        started_at=task.started_at or 0.0,
        finished_at=task.finished_at or 0.0,
        waiting_reason=waiting_reason,
    )
    if task.failure is not None:
        msg.failure.CopyFrom(failure_to_proto(task.failure))
    return msg


def event_to_proto(event: TaskEventRecord) -> common_pb2.TaskEvent:
    return common_pb2.TaskEvent(
        seq=event.seq,
        attempt=event.attempt,
        kind=event.kind,
        message=event.message,
        data_json=json.dumps(dict(event.data)) if event.data else "",
        time=event.time,
    )


def event_data(msg: common_pb2.TaskEvent) -> Mapping[str, Any]:
    try:
        value = json.loads(msg.data_json) if msg.data_json else {}
    except ValueError:
        return {"raw": msg.data_json}
    return value if isinstance(value, dict) else {"value": value}


def workflow_to_proto(snapshot: Snapshot, *, with_steps: bool = True) -> admin_pb2.Workflow:
    record = snapshot.record
    msg = admin_pb2.Workflow(
        id=record.id,
        name=record.name,
        state=f"WORKFLOW_STATE_{record.state.name}",
        inputs_json=json.dumps(dict(record.inputs)),
        created_at=record.created_at,
        finished_at=record.finished_at or 0.0,
        message=record.message,
    )
    if not with_steps:
        return msg
    for step in snapshot.steps:
        spec = snapshot.spec.step(step.step_id) if snapshot.spec is not None else None
        tasks = [snapshot.tasks[t] for t in step.task_ids if t in snapshot.tasks]
        item = admin_pb2.WorkflowStep(
            id=step.step_id,
            tool=spec.task.tool if spec else (tasks[0].spec.tool if tasks else ""),
            # A stored workflow is re-parsed without its tools' default actions: the tasks
            # have them.
            action=(spec.task.action if spec else "") or (tasks[0].spec.action if tasks else ""),
            needs=list(spec.needs) if spec else [],
            state=f"STEP_STATE_{step.state.name}",
            task_ids=list(step.task_ids),
            agent_ids=sorted({t.agent_id for t in tasks if t.agent_id}),
            outputs_json="" if step.outputs is None else json.dumps(step.outputs),
            started_at=step.started_at or 0.0,
            finished_at=step.finished_at or 0.0,
            message=step.message or _waiting(step.task_ids, snapshot.waiting),
            tasks_done=sum(1 for t in tasks if t.state.terminal),
            cost_usd=sum(_cost(t) for t in tasks),
        )
        latest = [snapshot.last_events[t] for t in step.task_ids if t in snapshot.last_events]
        if latest:
            item.last_event.CopyFrom(event_to_proto(max(latest, key=lambda e: e.time)))
        msg.steps.append(item)
    return msg


def _cost(task: TaskRecord) -> float:
    value = (task.outputs or {}).get("cost_usd")
    return float(value) if isinstance(value, int | float) else 0.0


def _waiting(task_ids: Sequence[str], waiting: Mapping[str, str]) -> str:
    reasons = [waiting[t] for t in task_ids if t in waiting]
    return f"waiting: {reasons[0]}" if reasons else ""
