"""The admin API's messages from the hub's values (this edge's one conversion module)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import cast

from ...model import AgentState
from ...v1 import admin_pb2, common_pb2
from ...wire import failure_to_proto, metrics_to_proto, spec_to_proto, state_to_proto, tool_to_proto
from ..core import (
    AgentRecord,
    JoinTokenRecord,
    TaskEventRecord,
    TaskRecord,
    UserRecord,
    usage_of,
)
from ..fleet import AgentSession
from ..secrets import SecretInfo
from ..tasks import QuotaBlock
from ..workflows import Snapshot


def task_to_proto(task: TaskRecord, *, waiting_reason: str = "") -> admin_pb2.Task:
    msg = admin_pb2.Task(
        spec=spec_to_proto(task.spec, task_id=task.id),
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


def agent_to_proto(
    record: AgentRecord,
    session: AgentSession | None,
    *,
    schemas: bool = True,
    quota: Iterable[QuotaBlock] = (),
) -> admin_pb2.Agent:
    """An agent as stored, with what its session knows when it has one (else it is lost), and
    the tools out of quota on it."""
    msg = admin_pb2.Agent(
        id=record.id,
        name=record.name,
        hostname=record.hostname,
        labels=dict(record.labels),
        state=_agent_state(AgentState.LOST),
        joined_at=record.joined_at,
        certificate_serial=record.certificate_serial,
        certificate_expires_at=record.certificate_expires_at,
        quota_blocks=[
            admin_pb2.QuotaBlock(tool=b.tool, until=b.until)
            for b in quota
            if b.agent_id == record.id
        ],
    )
    if session is not None:
        msg.state = _agent_state(session.state)
        msg.labels.update(session.labels)
        msg.slots = session.slots
        msg.running_tasks = len(session.running)
        msg.tools.extend(tool_to_proto(t, schemas=schemas) for t in session.tools)
        if session.metrics is not None:
            msg.metrics.CopyFrom(metrics_to_proto(session.metrics))
        msg.version = session.version
        msg.platform = session.platform
        msg.hostname = session.hostname or record.hostname
        msg.connected_at = session.connected_at
        msg.last_heartbeat_at = session.last_heartbeat_at or 0.0
    return msg


def _agent_state(state: AgentState) -> admin_pb2.AgentState:
    return cast(admin_pb2.AgentState, admin_pb2.AgentState.Value(f"AGENT_STATE_{state.name}"))


def join_token_to_proto(record: JoinTokenRecord) -> admin_pb2.JoinToken:
    return admin_pb2.JoinToken(
        id=record.id,
        labels=dict(record.labels),
        uses_left=record.uses_left,
        expires_at=record.expires_at,
        revoked=record.revoked,
        created_at=record.created_at,
    )


def user_to_proto(record: UserRecord) -> admin_pb2.User:
    return admin_pb2.User(
        name=record.name,
        role=record.role.value,
        created_at=record.created_at,
        created_by=record.created_by,
    )


def secret_to_proto(info: SecretInfo) -> admin_pb2.Secret:
    return admin_pb2.Secret(
        name=info.name, version=info.version, set_by=info.set_by, set_at=info.set_at
    )


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
        budget_usd=(snapshot.spec.budget_usd if snapshot.spec else None) or 0.0,
        spent_usd=snapshot.spent_usd,
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
            cost_usd=sum(usage_of(t.outputs).cost_usd for t in tasks),
        )
        latest = [snapshot.last_events[t] for t in step.task_ids if t in snapshot.last_events]
        if latest:
            item.last_event.CopyFrom(event_to_proto(max(latest, key=lambda e: e.time)))
        msg.steps.append(item)
    return msg


def _waiting(task_ids: Sequence[str], waiting: Mapping[str, str]) -> str:
    reasons = [waiting[t] for t in task_ids if t in waiting]
    return f"waiting: {reasons[0]}" if reasons else ""
