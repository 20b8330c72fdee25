"""The agent's values to and from the mesh stream's messages (this edge's one conversion module)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ...v1 import common_pb2, mesh_pb2
from ...wire import failure_to_proto
from ..runner import Assignment, AttemptRef, Progress, RunOutcome


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
