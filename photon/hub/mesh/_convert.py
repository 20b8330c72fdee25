"""The mesh stream's messages to and from the hub's values (this edge's one conversion module)."""

from __future__ import annotations

from ...v1 import common_pb2, mesh_pb2
from ...wire import failure_from_proto, lenient_object, spec_to_proto
from ..core import AttemptRef
from ..fleet import AckResult, AgentMessage, AssignTask, CancelAttempt, SetDraining
from ..tasks import Outcome, Progress


def ref_from_proto(msg: mesh_pb2.AttemptRef) -> AttemptRef:
    return AttemptRef(task_id=msg.task_id, attempt=msg.attempt, epoch=msg.epoch)


def ref_to_proto(ref: AttemptRef) -> mesh_pb2.AttemptRef:
    return mesh_pb2.AttemptRef(task_id=ref.task_id, attempt=ref.attempt, epoch=ref.epoch)


def progress_from_proto(msg: common_pb2.TaskEvent) -> Progress:
    return Progress(kind=msg.kind, message=msg.message, data=lenient_object(msg.data_json))


def outcome_from_proto(msg: mesh_pb2.TaskResult) -> Outcome:
    if msg.ok:
        return Outcome(
            ok=True, outputs=lenient_object(msg.outputs_json), started_at=msg.started_at or None
        )
    return Outcome(
        ok=False, failure=failure_from_proto(msg.failure), started_at=msg.started_at or None
    )


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
    assert isinstance(message, AckResult)
    return mesh_pb2.ConnectResponse(
        result_ack=mesh_pb2.ResultAck(attempt=ref_to_proto(message.ref))
    )
