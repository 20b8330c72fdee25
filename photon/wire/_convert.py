"""The shared values (`photon.model`) to and from their wire messages: one pair per type.

Each side's edge (the hub's api and mesh, the agent's session, the client) converts with these
and with converters of its own for what only it sends.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, cast

from .._bounds import DOCUMENT, READ, JsonBounds, OutOfBounds, load_json
from .._repos import isolation
from ..errors import InvalidArgumentError
from ..model import (
    DEFAULT_PRIORITY,
    DEFAULT_QUEUE_TIMEOUT,
    MAX_PRIORITY,
    ActionInfo,
    AgentMetrics,
    Failure,
    FailureClass,
    RetryPolicy,
    TaskSpec,
    TaskState,
    ToolInfo,
    WorkspaceSpec,
)
from ..v1 import common_pb2


def json_object(text: str, field: str, bounds: JsonBounds = DOCUMENT) -> dict[str, Any]:
    """A JSON object from its text (empty text: {}), no deeper or larger than `bounds`.
    Raises InvalidArgumentError naming the field (and the limit it is over)."""
    if not text:
        return {}
    try:
        value = load_json(text, bounds)
    except OutOfBounds as exc:
        raise InvalidArgumentError(f"{field}: {exc}") from None
    except ValueError as exc:
        raise InvalidArgumentError(f"{field} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidArgumentError(f"{field} must be a JSON object")
    return value


def spec_to_proto(spec: TaskSpec, *, task_id: str = "") -> common_pb2.TaskSpec:
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
        continue_from=spec.continue_from,
        fallback=list(spec.fallback),
        budget_usd=spec.budget_usd or 0.0,
        workspace=workspace_to_proto(spec.workspace),
    )


def workspace_to_proto(spec: WorkspaceSpec | None) -> common_pb2.WorkspaceSpec | None:
    if spec is None:
        return None
    return common_pb2.WorkspaceSpec(repo=spec.repo, ref=spec.ref, isolate=spec.isolate.value)


def workspace_from_proto(msg: common_pb2.TaskSpec) -> WorkspaceSpec | None:
    """The spec's workspace, None when it has none. Raises InvalidArgumentError for an
    unknown `isolate`."""
    if not msg.HasField("workspace"):
        return None
    ws = msg.workspace
    return WorkspaceSpec(repo=ws.repo, ref=ws.ref, isolate=isolation(ws.isolate))


def spec_from_proto(
    msg: common_pb2.TaskSpec, *, inputs: JsonBounds = DOCUMENT, lenient: bool = False
) -> TaskSpec:
    """A spec from the wire; unset fields take their defaults, the inputs within their bounds.
    Raises InvalidArgumentError naming the field. `lenient` (for what a peer has already
    accepted): inputs out of bounds or not an object are kept as `lenient_object` keeps them."""
    if not msg.tool:
        raise InvalidArgumentError("tool is required")
    priority = msg.priority if msg.HasField("priority") else DEFAULT_PRIORITY
    if not 0 <= priority <= MAX_PRIORITY:
        raise InvalidArgumentError(f"priority must be between 0 and {MAX_PRIORITY}")
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
    if not (math.isfinite(msg.budget_usd) and msg.budget_usd >= 0):
        raise InvalidArgumentError("budget_usd must be a positive number of dollars (0: none)")
    return TaskSpec(
        tool=msg.tool,
        action=msg.action,
        inputs=(
            lenient_object(msg.inputs_json, inputs)
            if lenient
            else json_object(msg.inputs_json, "inputs", inputs)
        ),
        selector=msg.selector,
        agent=msg.agent,
        priority=priority,
        timeout=msg.timeout_seconds or None,
        queue_timeout=msg.queue_timeout_seconds or DEFAULT_QUEUE_TIMEOUT,
        retry=retry,
        idempotency_key=msg.idempotency_key,
        locks=tuple(msg.locks),
        env=dict(msg.env),
        labels=dict(msg.labels),
        continue_from=msg.continue_from,
        fallback=tuple(msg.fallback),
        budget_usd=msg.budget_usd or None,
        workspace=workspace_from_proto(msg),
    )


def state_to_proto(state: TaskState) -> common_pb2.TaskState:
    return cast(common_pb2.TaskState, common_pb2.TaskState.Value(f"TASK_STATE_{state.name}"))


def state_from_proto(value: int) -> TaskState | None:
    """None for TASK_STATE_UNSPECIFIED."""
    if value == common_pb2.TASK_STATE_UNSPECIFIED:
        return None
    try:
        return TaskState[common_pb2.TaskState.Name(value).removeprefix("TASK_STATE_")]
    except ValueError:
        raise InvalidArgumentError(f"unknown task state {value}") from None


def failure_to_proto(failure: Failure) -> common_pb2.Failure:
    return common_pb2.Failure(
        failure_class=f"FAILURE_CLASS_{failure.failure_class.name}",
        message=failure.message,
        retry_at=failure.retry_at or 0.0,
    )


def failure_from_proto(msg: common_pb2.Failure) -> Failure:
    """An unset or unknown class reads as tool_error."""
    try:
        name = common_pb2.FailureClass.Name(msg.failure_class).removeprefix("FAILURE_CLASS_")
    except ValueError:
        name = "UNSPECIFIED"
    failure_class = FailureClass.TOOL_ERROR if name == "UNSPECIFIED" else FailureClass[name]
    return Failure(failure_class=failure_class, message=msg.message, retry_at=msg.retry_at or None)


def lenient_object(text: str, bounds: JsonBounds = READ) -> dict[str, Any]:
    """A JSON object from what a peer sent (an event's data, a result's outputs), never
    refused: anything but an object is wrapped (`{"value": ...}`, `{"raw": text}` for text that
    is not JSON), and what is deeper or larger than `bounds` is replaced by
    `{"omitted": why}`."""
    try:
        value = load_json(text, bounds) if text else {}
    except OutOfBounds as exc:
        return {"omitted": str(exc)}
    except ValueError:
        return {"raw": text}
    return value if isinstance(value, dict) else {"value": value}


def lenient_json(text: str, bounds: JsonBounds = READ) -> Any:
    """Any JSON value from what a peer sent (None for empty text), as `lenient_object` reads
    it but unwrapped."""
    if not text:
        return None
    try:
        return load_json(text, bounds)
    except OutOfBounds as exc:
        return {"omitted": str(exc)}
    except ValueError:
        return {"raw": text}


def tool_to_proto(tool: ToolInfo, *, schemas: bool = True) -> common_pb2.ToolCapability:
    """Without `schemas`, the actions' input schemas are left out (kilobytes per agent)."""
    return common_pb2.ToolCapability(
        name=tool.name,
        version=tool.version,
        actions=[
            common_pb2.ToolAction(
                name=a.name,
                description=a.description,
                input_schema_json=a.input_schema_json if schemas else "",
            )
            for a in tool.actions
        ],
        default_action=tool.default_action,
        available=tool.available,
        enabled=tool.enabled,
        detail=tool.detail,
    )


def tool_from_proto(msg: common_pb2.ToolCapability) -> ToolInfo:
    return ToolInfo(
        name=msg.name,
        version=msg.version,
        actions=tuple(
            ActionInfo(
                name=a.name, description=a.description, input_schema_json=a.input_schema_json
            )
            for a in msg.actions
        ),
        default_action=msg.default_action,
        available=msg.available,
        enabled=msg.enabled,
        detail=msg.detail,
    )


_METRICS = tuple(f.name for f in dataclasses.fields(AgentMetrics))


def metrics_to_proto(metrics: AgentMetrics) -> common_pb2.AgentMetrics:
    return common_pb2.AgentMetrics(**{name: getattr(metrics, name) for name in _METRICS})


def metrics_from_proto(msg: common_pb2.AgentMetrics) -> AgentMetrics:
    return AgentMetrics(**{name: getattr(msg, name) for name in _METRICS})
