"""The agent's values to and from the mesh stream's messages (this edge's one conversion module)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..._bounds import READ, JsonBounds, check_json_text, load_json
from ..._text import shorten
from ...errors import InvalidArgumentError
from ...model import WorkspaceSpec
from ...v1 import common_pb2, mesh_pb2
from ...wire import MAX_MESSAGE_BYTES, failure_to_proto, workspace_from_proto
from ..runner import Assignment, AttemptRef, Progress, RunOutcome

# What one report may carry, so that its message always fits the stream's: a result too big to
# send would break the stream on every reconnect, as the outbox sends it again. The hub keeps
# less still (its max-output-bytes and max-event-bytes).
_OUTPUTS = JsonBounds(
    max_depth=READ.max_depth,
    max_bytes=MAX_MESSAGE_BYTES // 2,
    depth_limit="",
    bytes_limit="",
)
_EVENT = JsonBounds(
    max_depth=READ.max_depth,
    max_bytes=MAX_MESSAGE_BYTES // 16,
    depth_limit="",
    bytes_limit="",
)
MAX_MESSAGE_CHARS = MAX_MESSAGE_BYTES // 64  # an event's or a failure's message


@dataclass(frozen=True, slots=True, kw_only=True)
class RenewAnswer:
    """The hub's answer to a renewal: the new certificate, or why there is none."""

    certificate_pem: bytes
    error: str


def renew_request_to_proto(csr_pem: bytes) -> mesh_pb2.ConnectRequest:
    return mesh_pb2.ConnectRequest(renew_request=mesh_pb2.RenewRequest(csr_pem=csr_pem))


def renew_answer_from_proto(msg: mesh_pb2.RenewResponse) -> RenewAnswer:
    error = shorten(msg.error, MAX_MESSAGE_CHARS)
    if not error and not msg.certificate_pem:
        error = "the hub sent neither a certificate nor a reason"
    return RenewAnswer(certificate_pem=msg.certificate_pem, error=error)


def ref_from_proto(msg: mesh_pb2.AttemptRef) -> AttemptRef:
    return AttemptRef(task_id=msg.task_id, attempt=msg.attempt, epoch=msg.epoch)


def ref_to_proto(ref: AttemptRef) -> mesh_pb2.AttemptRef:
    return mesh_pb2.AttemptRef(task_id=ref.task_id, attempt=ref.attempt, epoch=ref.epoch)


def assignment_from_proto(msg: mesh_pb2.Assign) -> Assignment:
    spec = msg.spec
    workspace: WorkspaceSpec | None = None
    refusal = ""
    try:
        workspace = workspace_from_proto(spec)
    except InvalidArgumentError as exc:
        refusal = str(exc)
    return Assignment(
        ref=ref_from_proto(msg.attempt),
        tool=spec.tool,
        action=spec.action,
        inputs=_inputs(spec.inputs_json),
        env=dict(spec.env),
        secrets=dict(msg.secrets),
        timeout=spec.timeout_seconds or None,
        workspace=workspace,
        refusal=refusal,
    )


def _inputs(text: str) -> Mapping[str, Any] | None:
    """The inputs object, or None when the text is not one, or nests deeper than a plugin can
    be handed (the runner refuses those)."""
    try:
        value = load_json(text, READ) if text else {}
    except ValueError:  # OutOfBounds too
        return None
    return value if isinstance(value, dict) else None


def _json(value: Mapping[str, Any], bounds: JsonBounds) -> str:
    """A plugin's outputs or an event's data as JSON (what JSON cannot hold as text); a marker
    saying why in their place when they are too deep or too large to send."""
    try:
        text = json.dumps(dict(value), default=str)
        check_json_text(text, bounds)
    except RecursionError:
        return json.dumps({"omitted": bounds.too_deep()})
    except ValueError as exc:  # out of bounds, or a value that contains itself
        return json.dumps({"omitted": str(exc)})
    return text


def progress_to_proto(ref: AttemptRef, event: Progress) -> mesh_pb2.TaskProgress:
    return mesh_pb2.TaskProgress(
        attempt=ref_to_proto(ref),
        events=[
            common_pb2.TaskEvent(
                attempt=ref.attempt,
                kind=event.kind,
                message=shorten(event.message, MAX_MESSAGE_CHARS),
                data_json=_json(event.data, _EVENT) if event.data else "",
                time=event.time,
            )
        ],
    )


def outcome_to_proto(outcome: RunOutcome) -> mesh_pb2.TaskResult:
    result = mesh_pb2.TaskResult(
        attempt=ref_to_proto(outcome.ref),
        ok=outcome.ok,
        outputs_json=_json(outcome.outputs, _OUTPUTS),
        started_at=outcome.started_at,
        finished_at=outcome.finished_at,
    )
    if outcome.failure is not None:
        failure = replace(
            outcome.failure, message=shorten(outcome.failure.message, MAX_MESSAGE_CHARS)
        )
        result.failure.CopyFrom(failure_to_proto(failure))
    return result
