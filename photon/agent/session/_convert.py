"""The agent's values to and from the mesh stream's messages (this edge's one conversion module)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ...v1 import common_pb2, mesh_pb2
from ...wire import failure_to_proto
from ..runner import Assignment, AttemptRef, Progress, RunOutcome
from ..tools import HostMetrics, ToolInfo


def ref_from_proto(msg: mesh_pb2.AttemptRef) -> AttemptRef:
    return AttemptRef(task_id=msg.task_id, attempt=msg.attempt, epoch=msg.epoch)


def ref_to_proto(ref: AttemptRef) -> mesh_pb2.AttemptRef:
    return mesh_pb2.AttemptRef(task_id=ref.task_id, attempt=ref.attempt, epoch=ref.epoch)


def assignment_from_proto(msg: mesh_pb2.Assign) -> Assignment:
    spec = msg.spec
    return Assignment(
        ref=ref_from_proto(msg.attempt),
        tool=spec.tool,
        action=spec.action,
        inputs=_inputs(spec.inputs_json),
        secrets=dict(msg.secrets),
        timeout=spec.timeout_seconds or None,
    )


def _inputs(text: str) -> Mapping[str, Any] | None:
    """The inputs object, or None when the text is not one (the runner refuses those)."""
    try:
        value = json.loads(text) if text else {}
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def tool_to_proto(tool: ToolInfo) -> common_pb2.ToolCapability:
    return common_pb2.ToolCapability(
        name=tool.name,
        version=tool.version,
        actions=[
            common_pb2.ToolAction(
                name=a.name,
                description=a.description,
                input_schema_json=json.dumps(dict(a.input_schema)) if a.input_schema else "",
            )
            for a in tool.actions
        ],
        default_action=tool.default_action,
        available=tool.available,
        enabled=tool.enabled,
        detail=tool.detail,
    )


def metrics_to_proto(metrics: HostMetrics) -> common_pb2.AgentMetrics:
    return common_pb2.AgentMetrics(
        cpu_percent=metrics.cpu_percent,
        memory_percent=metrics.memory_percent,
        memory_used_bytes=metrics.memory_used_bytes,
        memory_total_bytes=metrics.memory_total_bytes,
        load1=metrics.load1,
        load5=metrics.load5,
        load15=metrics.load15,
        disk_percent=metrics.disk_percent,
        disk_free_bytes=metrics.disk_free_bytes,
        running_tasks=metrics.running_tasks,
        free_slots=metrics.free_slots,
    )


def progress_to_proto(ref: AttemptRef, event: Progress) -> mesh_pb2.TaskProgress:
    return mesh_pb2.TaskProgress(
        attempt=ref_to_proto(ref),
        events=[
            common_pb2.TaskEvent(
                attempt=ref.attempt,
                kind=event.kind,
                message=event.message,
                data_json=json.dumps(dict(event.data), default=str) if event.data else "",
                time=event.time,
            )
        ],
    )


def outcome_to_proto(outcome: RunOutcome) -> mesh_pb2.TaskResult:
    result = mesh_pb2.TaskResult(
        attempt=ref_to_proto(outcome.ref),
        ok=outcome.ok,
        outputs_json=json.dumps(dict(outcome.outputs), default=str),
        started_at=outcome.started_at,
        finished_at=outcome.finished_at,
    )
    if outcome.failure is not None:
        result.failure.CopyFrom(failure_to_proto(outcome.failure))
    return result
