"""The mesh stream's messages to and from the hub's values (this edge's one conversion module)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import overload

from ..._bounds import JsonBounds, OutOfBounds, load_json
from ..._names import check_text
from ..._text import shorten
from ...errors import InvalidArgumentError
from ...model import ToolInfo
from ...v1 import common_pb2, mesh_pb2
from ...wire import failure_from_proto, lenient_object, spec_to_proto, tool_from_proto
from ..core import AttemptRef, Limits
from ..fleet import AckResult, AgentMessage, AssignTask, CancelAttempt, RenewalAnswer, SetDraining
from ..security import RenewalRequest
from ..tasks import Outcome, Progress


def ref_from_proto(msg: mesh_pb2.AttemptRef) -> AttemptRef:
    return AttemptRef(task_id=msg.task_id, attempt=msg.attempt, epoch=msg.epoch)


def ref_to_proto(ref: AttemptRef) -> mesh_pb2.AttemptRef:
    return mesh_pb2.AttemptRef(task_id=ref.task_id, attempt=ref.attempt, epoch=ref.epoch)


@dataclass(frozen=True, slots=True, kw_only=True)
class Bounds:
    """The hub's limits on what an agent reports, as these conversions apply them; built once
    (`of`), since agents report thousands of events a second."""

    event_data: JsonBounds
    outputs: JsonBounds
    schema: JsonBounds
    max_name_length: int
    max_event_bytes: int

    @classmethod
    def of(cls, limits: Limits) -> Bounds:
        return cls(
            event_data=limits.event_data,
            outputs=limits.outputs,
            schema=limits.schema,
            max_name_length=limits.max_name_length,
            max_event_bytes=limits.max_event_bytes,
        )


def progress_from_proto(msg: common_pb2.TaskEvent, bounds: Bounds) -> Progress:
    """An agent's event, within the limits: data too deep or too large is kept as a marker
    saying so, a message too long is cut."""
    return Progress(
        kind=shorten(msg.kind, bounds.max_name_length),
        message=shorten(msg.message, bounds.max_event_bytes),
        data=lenient_object(msg.data_json, bounds.event_data),
    )


class ProgressBatch(Sequence[Progress]):
    """An agent's batch of events, converted only as far as they are read: the hub keeps a
    few of a flood (the caps) and converting the rest would cost it as much as keeping them."""

    def __init__(self, msgs: Sequence[common_pb2.TaskEvent], bounds: Bounds) -> None:
        self._msgs = msgs
        self._bounds = bounds

    def __len__(self) -> int:
        return len(self._msgs)

    @overload
    def __getitem__(self, index: int) -> Progress: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Progress]: ...
    def __getitem__(self, index: int | slice) -> Progress | Sequence[Progress]:
        if isinstance(index, slice):
            return [progress_from_proto(msg, self._bounds) for msg in self._msgs[index]]
        return progress_from_proto(self._msgs[index], self._bounds)


def outcome_from_proto(msg: mesh_pb2.TaskResult, bounds: Bounds) -> Outcome:
    """An agent's result, within the limits: outputs too deep or too large are kept as a
    marker saying so, a failure's message too long is cut."""
    if msg.ok:
        return Outcome(
            ok=True,
            outputs=lenient_object(msg.outputs_json, bounds.outputs),
            started_at=msg.started_at or None,
        )
    failure = failure_from_proto(msg.failure)
    failure = replace(failure, message=shorten(failure.message, bounds.max_event_bytes))
    return Outcome(ok=False, failure=failure, started_at=msg.started_at or None)


def tools_from_proto(msgs: Iterable[common_pb2.ToolCapability], bounds: Bounds) -> list[ToolInfo]:
    """What an agent says it offers. Raises InvalidArgumentError naming the tool when a name
    holds a control character or is too long, or when an input schema is not a JSON object
    within the limits (the hub validates tasks' inputs against it)."""
    most = bounds.max_name_length
    tools = [tool_from_proto(msg) for msg in msgs]
    for tool in tools:
        name = shorten(tool.name, most)
        check_text(tool.name, "tool name", max_length=most, limit_name="max-name-length")
        for action in tool.actions:
            check_text(
                action.name,
                f"tool {name!r}: action name",
                max_length=most,
                limit_name="max-name-length",
            )
            if not action.input_schema_json:
                continue
            where = f"tool {name!r} action {action.name!r}"
            try:
                schema = load_json(action.input_schema_json, bounds.schema)
            except OutOfBounds as exc:
                raise InvalidArgumentError(f"{where} input schema: {exc}") from None
            except ValueError:
                raise InvalidArgumentError(f"{where} input schema is not valid JSON") from None
            if not isinstance(schema, dict):
                raise InvalidArgumentError(f"{where} input schema must be a JSON object")
    return tools


def renewal_from_proto(msg: mesh_pb2.RenewRequest, *, agent_id: str) -> RenewalRequest:
    """An agent's renewal request; who it is for comes from the stream's peer certificate."""
    return RenewalRequest(agent_id=agent_id, csr_pem=msg.csr_pem)


def message_to_proto(message: AgentMessage) -> mesh_pb2.ConnectResponse:
    if isinstance(message, AssignTask):
        task = message.task
        return mesh_pb2.ConnectResponse(
            assign=mesh_pb2.Assign(
                spec=spec_to_proto(task.spec, task_id=task.id),
                attempt=ref_to_proto(task.ref),
                secrets=dict(message.secrets),
            )
        )
    if isinstance(message, CancelAttempt):
        return mesh_pb2.ConnectResponse(
            cancel=mesh_pb2.Cancel(attempt=ref_to_proto(message.ref), reason=message.reason)
        )
    if isinstance(message, SetDraining):
        return mesh_pb2.ConnectResponse(drain=mesh_pb2.Drain(draining=message.draining))
    if isinstance(message, RenewalAnswer):
        return mesh_pb2.ConnectResponse(
            renew_response=mesh_pb2.RenewResponse(
                certificate_pem=message.certificate_pem, error=message.error
            )
        )
    assert isinstance(message, AckResult)
    return mesh_pb2.ConnectResponse(
        result_ack=mesh_pb2.ResultAck(attempt=ref_to_proto(message.ref))
    )
