"""`AdminService` and `AuthService`: thin translations between the wire and the hub's parts."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import grpc

from ..._ids import new_secret, new_ulid
from ..._join_token import JoinToken
from ..._names import check_labels, check_selector, check_text
from ..._text import has_controls
from ...errors import InvalidArgumentError, NotFoundError, PhotonError
from ...model import TaskSpec
from ...v1 import admin_pb2, admin_pb2_grpc, common_pb2
from ...wire import json_object, spec_from_proto, state_from_proto
from ..audit import AuditTrail
from ..core import (
    DEFAULT_LIMITS,
    AgentRecord,
    JoinTokenRecord,
    Limits,
    TaskEventRecord,
    TaskRecord,
    quote,
)
from ..fleet import Fleet
from ..secrets import Secrets
from ..security import DashboardLogins, Users, caller, hash_secret
from ..store import Store
from ..tasks import TaskEngine
from ..workflows import Snapshot, WorkflowEngine
from . import _convert
from ._audit import AuditRpcs
from ._dashboard import DashboardRpcs
from ._errors import Context, abort, abort_for, translating
from ._reports import ReportRpcs
from ._users import UserRpcs

DEFAULT_JOIN_TTL = 15 * 60.0
MAX_JOIN_TTL = 7 * 24 * 3600.0
WATCH_REFRESH = 1.0
WATCH_THROTTLE = 0.2


class AdminServicer(
    UserRpcs,
    AuditRpcs,
    ReportRpcs,
    DashboardRpcs,
    admin_pb2_grpc.AdminServiceServicer,  # type: ignore[misc]
):
    def __init__(
        self,
        *,
        store: Store,
        fleet: Fleet,
        engine: TaskEngine,
        workflows: WorkflowEngine,
        secrets: Secrets,
        api_addresses: Callable[[], Sequence[str]],
        ca_pin: str,
        users: Users,
        audit: AuditTrail,
        logins: DashboardLogins,
        http_port: Callable[[], int],
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self._store = store
        self._logins = logins
        self._http_port = http_port
        self._users = users
        self._audit = audit
        self._secrets = secrets
        self._fleet = fleet
        self._engine = engine
        self._workflows = workflows
        self._api_addresses = api_addresses
        self._ca_pin = ca_pin
        self._limits = limits
        self._inputs = limits.inputs  # built once: every submitted spec is checked against it

    # -- join tokens --------------------------------------------------------------------------

    @translating
    async def CreateJoinToken(
        self, request: admin_pb2.CreateJoinTokenRequest, context: Context
    ) -> admin_pb2.CreateJoinTokenResponse:
        ttl = request.ttl_seconds or DEFAULT_JOIN_TTL
        if not 0 < ttl <= MAX_JOIN_TTL:
            raise InvalidArgumentError("ttl must be between 1s and 7 days")
        if request.uses < 0:
            raise InvalidArgumentError("uses must be at least 1")
        self._check_labels(request.labels, "labels")
        secret = new_secret()
        now = time.time()
        record = JoinTokenRecord(
            id=new_ulid().lower()[-10:],
            secret_hash=hash_secret(secret),
            labels=dict(request.labels),
            uses_left=request.uses or 1,
            expires_at=now + ttl,
            created_at=now,
        )
        await self._store.add_join_token(record)
        token = JoinToken(
            api_addresses=self._api_addresses(),
            ca_pin=self._ca_pin,
            token_id=record.id,
            secret=secret,
        )
        return admin_pb2.CreateJoinTokenResponse(
            token=token.encode(), join_token=_convert.join_token_to_proto(record)
        )

    @translating
    async def ListJoinTokens(
        self, request: admin_pb2.ListJoinTokensRequest, context: Context
    ) -> admin_pb2.ListJoinTokensResponse:
        tokens = await self._store.list_join_tokens()
        return admin_pb2.ListJoinTokensResponse(
            join_tokens=[_convert.join_token_to_proto(t) for t in tokens]
        )

    @translating
    async def RevokeJoinToken(
        self, request: admin_pb2.RevokeJoinTokenRequest, context: Context
    ) -> admin_pb2.RevokeJoinTokenResponse:
        await self._store.revoke_join_token(request.id)
        return admin_pb2.RevokeJoinTokenResponse()

    # -- agents -------------------------------------------------------------------------------

    def _agent_to_proto(self, record: AgentRecord, *, schemas: bool = True) -> admin_pb2.Agent:
        return _convert.agent_to_proto(
            record, self._fleet.get(record.id), schemas=schemas, quota=self._engine.quota_blocks()
        )

    @translating
    async def ListAgents(
        self, request: admin_pb2.ListAgentsRequest, context: Context
    ) -> admin_pb2.ListAgentsResponse:
        agents = [a for a in await self._store.list_agents() if not a.removed]
        return admin_pb2.ListAgentsResponse(
            agents=[self._agent_to_proto(a, schemas=False) for a in agents]
        )

    async def _find_agent(self, id_or_name: str) -> AgentRecord:
        agents = [a for a in await self._store.list_agents() if not a.removed]
        matches = [a for a in agents if a.id == id_or_name] or [
            a for a in agents if a.name == id_or_name
        ]
        if not matches:
            raise NotFoundError(f"agent {quote(id_or_name, self._limits)} not found")
        if len(matches) > 1:
            raise InvalidArgumentError(
                f"name {quote(id_or_name, self._limits)} matches several agents; use the id"
            )
        return matches[0]

    @translating
    async def GetAgent(
        self, request: admin_pb2.GetAgentRequest, context: Context
    ) -> admin_pb2.GetAgentResponse:
        agent = await self._find_agent(request.id)
        return admin_pb2.GetAgentResponse(agent=self._agent_to_proto(agent))

    async def _agent_id(self, id_or_name: str) -> str:
        """The id of the agent `id_or_name` names; an id no agent has any more (a removed
        agent's, its tasks still listed) as it is. Raises InvalidArgumentError."""
        check_text(
            id_or_name,
            "agent",
            max_length=self._limits.max_name_length,
            limit_name="max-name-length",
        )
        try:
            return (await self._find_agent(id_or_name)).id
        except NotFoundError:
            return id_or_name

    async def _set_draining(self, id_or_name: str, draining: bool) -> admin_pb2.Agent:
        agent = await self._engine.set_draining(await self._find_agent(id_or_name), draining)
        return self._agent_to_proto(agent)

    @translating
    async def DrainAgent(
        self, request: admin_pb2.DrainAgentRequest, context: Context
    ) -> admin_pb2.DrainAgentResponse:
        """No new work goes to the agent; its running tasks finish."""
        return admin_pb2.DrainAgentResponse(agent=await self._set_draining(request.id, True))

    @translating
    async def UndrainAgent(
        self, request: admin_pb2.UndrainAgentRequest, context: Context
    ) -> admin_pb2.UndrainAgentResponse:
        return admin_pb2.UndrainAgentResponse(agent=await self._set_draining(request.id, False))

    @translating
    async def RemoveAgent(
        self, request: admin_pb2.RemoveAgentRequest, context: Context
    ) -> admin_pb2.RemoveAgentResponse:
        """Revoke the agent: its stream closes now and its certificate is refused from now on;
        its tasks get a new attempt elsewhere."""
        agent = replace(await self._find_agent(request.id), removed=True)
        await self._store.update_agent(agent)
        session = self._fleet.get(agent.id)
        if session is not None:
            session.close("removed by an admin")
            self._fleet.remove(session)
        self._engine.on_agent_lost(agent.id)
        return admin_pb2.RemoveAgentResponse()

    # -- tasks --------------------------------------------------------------------------------

    def _check_labels(self, labels: Mapping[str, str], field: str) -> None:
        check_labels(
            labels,
            field,
            max_labels=self._limits.max_labels,
            max_length=self._limits.max_name_length,
        )

    def _spec(self, msg: common_pb2.TaskSpec) -> TaskSpec:
        """A submitted spec, its inputs within the limits and its names, labels and selector
        checked (before the engine quotes any of them). Raises InvalidArgumentError."""
        spec = spec_from_proto(msg, inputs=self._inputs)
        limits = self._limits
        names = (spec.tool, spec.action, spec.agent)
        # A batch holds up to max-batch specs: one look at all of them first, the checks that
        # say which field is at fault only when one is.
        if (
            max(map(len, names)) > limits.max_name_length
            or len(spec.selector) > limits.max_selector_length
            or has_controls("".join((*names, spec.selector, *spec.locks)))
        ):
            for field, value in zip(("tool", "action", "agent"), names, strict=True):
                check_text(
                    value, field, max_length=limits.max_name_length, limit_name="max-name-length"
                )
            check_selector(spec.selector, "selector", max_length=limits.max_selector_length)
            raise InvalidArgumentError("locks: a lock's name has a control character")
        if spec.labels:
            self._check_labels(spec.labels, "labels")
        return spec

    def _specs(self, msgs: Iterable[common_pb2.TaskSpec]) -> Iterator[TaskSpec]:
        """A batch's specs, each converted only when the engine comes to it (it stops at the
        first it refuses). Raises InvalidArgumentError naming the spec."""
        for index, msg in enumerate(msgs):
            try:
                yield self._spec(msg)
            except InvalidArgumentError as exc:
                raise InvalidArgumentError(f"spec {index}: {exc}") from None

    def _check_steps(self, document: Mapping[str, Any]) -> None:
        """A workflow's steps' labels and selectors, checked as a task's are (the workflow's
        own rules come after)."""
        steps = document.get("steps")
        for index, step in enumerate(steps if isinstance(steps, list) else ()):
            if not isinstance(step, dict):
                continue
            step_id = step.get("id")
            where = (
                f"step {quote(step_id, self._limits)!r}"
                if isinstance(step_id, str)
                else f"steps[{index}]"
            )
            labels = step.get("labels")
            if isinstance(labels, dict) and all(isinstance(k, str) for k in labels):
                self._check_labels({k: str(v) for k, v in labels.items()}, f"{where} labels")
            selector = step.get("selector")
            if isinstance(selector, dict):
                selector = ",".join(f"{k}={v}" for k, v in selector.items())
            if isinstance(selector, str):
                check_selector(
                    selector, f"{where} selector", max_length=self._limits.max_selector_length
                )

    @translating
    async def SubmitTask(
        self, request: admin_pb2.SubmitTaskRequest, context: Context
    ) -> admin_pb2.SubmitTaskResponse:
        spec = self._spec(request.spec)
        task, created = await self._engine.submit(spec)
        return admin_pb2.SubmitTaskResponse(task=_convert.task_to_proto(task), created=created)

    @translating
    async def SubmitTasks(
        self, request: admin_pb2.SubmitTasksRequest, context: Context
    ) -> admin_pb2.SubmitTasksResponse:
        if not request.specs:
            raise InvalidArgumentError("give at least one task spec")
        self._limits.check("max_batch", len(request.specs), "the number of task specs")
        results = await self._engine.submit_many(self._specs(request.specs))
        return admin_pb2.SubmitTasksResponse(
            results=[
                admin_pb2.SubmitTaskResponse(task=_convert.task_to_proto(task), created=created)
                for task, created in results
            ]
        )

    async def RunTask(
        self, request: admin_pb2.RunTaskRequest, context: Context
    ) -> AsyncIterator[admin_pb2.WatchTaskResponse]:
        try:
            task, _ = await self._engine.submit(self._spec(request.spec))
        except PhotonError as exc:
            await abort_for(context, exc)
        async for message in self._follow(
            task.id, after_seq=0, verbose=not request.quiet, context=context
        ):
            yield message

    @translating
    async def GetTask(
        self, request: admin_pb2.GetTaskRequest, context: Context
    ) -> admin_pb2.GetTaskResponse:
        task, reason = await self._engine.get(request.id)
        return admin_pb2.GetTaskResponse(task=_convert.task_to_proto(task, waiting_reason=reason))

    @translating
    async def ListTasks(
        self, request: admin_pb2.ListTasksRequest, context: Context
    ) -> admin_pb2.ListTasksResponse:
        state = state_from_proto(request.state)
        limits = self._limits
        if request.tool:
            check_text(
                request.tool,
                "tool",
                max_length=limits.max_name_length,
                limit_name="max-name-length",
            )
        if request.labels:
            self._check_labels(request.labels, "labels")
        if not math.isfinite(request.since) or request.since < 0:
            raise InvalidArgumentError("since: must be a unix time (0 for any time)")
        tasks = await self._store.list_tasks(
            state=state,
            limit=limits.list_size(request.limit),
            tool=request.tool,
            agent_id=await self._agent_id(request.agent) if request.agent else "",
            labels=dict(request.labels),
            since=request.since,
        )
        reasons = self._engine.waiting_reasons(tasks)
        return admin_pb2.ListTasksResponse(
            tasks=[
                _convert.task_to_proto(t, waiting_reason=reason)
                for t, reason in zip(tasks, reasons, strict=True)
            ]
        )

    @translating
    async def CancelTask(
        self, request: admin_pb2.CancelTaskRequest, context: Context
    ) -> admin_pb2.CancelTaskResponse:
        task = await self._engine.cancel(request.id)
        return admin_pb2.CancelTaskResponse(task=_convert.task_to_proto(task))

    async def WatchTask(
        self, request: admin_pb2.WatchTaskRequest, context: Context
    ) -> AsyncIterator[admin_pb2.WatchTaskResponse]:
        async for message in self._follow(
            request.id,
            after_seq=request.after_seq,
            verbose=True,
            stored_only=request.stored_only,
            context=context,
        ):
            yield message

    async def _follow(
        self,
        task_id: str,
        *,
        after_seq: int,
        verbose: bool,
        context: Context,
        stored_only: bool = False,
    ) -> AsyncIterator[admin_pb2.WatchTaskResponse]:
        """The task now, its events since `after_seq`, then live updates until it ends;
        not `verbose`: the task now and its final record only; `stored_only`: the task now
        and the events stored so far."""
        queue = self._engine.subscribe(task_id)
        try:
            try:
                task, reason = await self._engine.get(task_id)
            except PhotonError as exc:
                await abort_for(context, exc)
            yield _task_message(task, reason)
            last_seq = after_seq
            published = self._engine.published_seq(task_id)
            # Events already published live only in the store; later ones come on the queue.
            if verbose and (published is None or published > after_seq):
                for event in await self._store.list_task_events(task_id, after_seq=last_seq):
                    last_seq = event.seq
                    yield admin_pb2.WatchTaskResponse(event=_convert.event_to_proto(event))
            if stored_only:
                return
            while not task.state.terminal:
                try:
                    async with asyncio.timeout(WATCH_REFRESH):
                        item = await queue.get()
                except TimeoutError:
                    if verbose and (new_reason := self._engine.waiting_reason(task)) != reason:
                        reason = new_reason
                        yield _task_message(task, reason)
                    continue
                if isinstance(item, TaskEventRecord):
                    if verbose and item.seq > last_seq:
                        last_seq = item.seq
                        yield admin_pb2.WatchTaskResponse(event=_convert.event_to_proto(item))
                else:
                    task = item
                    if verbose or task.state.terminal:
                        reason = self._engine.waiting_reason(task)
                        yield _task_message(task, reason)
        finally:
            self._engine.unsubscribe(task_id, queue)

    async def WaitTasks(
        self, request: admin_pb2.WaitTasksRequest, context: Context
    ) -> AsyncIterator[admin_pb2.WaitTasksResponse]:
        waiting = set(request.ids)
        if not waiting or len(waiting) > self._limits.max_batch:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"give 1 to {self._limits.max_batch} task ids (limit max-batch),"
                f" not {len(waiting)}",
            )
        queue: asyncio.Queue[TaskRecord | TaskEventRecord] = asyncio.Queue()
        for task_id in waiting:
            self._engine.subscribe(task_id, queue)
        try:
            try:
                ended = await self._engine.ended_of(waiting)
            except PhotonError as exc:
                await abort_for(context, exc)
            while True:
                batch = [t for t in ended if t.id in waiting]
                waiting.difference_update(t.id for t in batch)
                if batch:
                    yield admin_pb2.WaitTasksResponse(
                        tasks=[_convert.task_to_proto(t) for t in batch]
                    )
                if not waiting:
                    return
                updates = [await queue.get()]
                while not queue.empty():
                    updates.append(queue.get_nowait())
                ended = [t for t in updates if isinstance(t, TaskRecord) and t.state.terminal]
        finally:
            for task_id in request.ids:
                self._engine.unsubscribe(task_id, queue)

    # -- workflows ----------------------------------------------------------------------------

    @translating
    async def SubmitWorkflow(
        self, request: admin_pb2.SubmitWorkflowRequest, context: Context
    ) -> admin_pb2.SubmitWorkflowResponse:
        document = json_object(request.document_json, "workflow", self._limits.workflow)
        inputs = json_object(request.inputs_json, "inputs", self._inputs)
        self._check_steps(document)
        snapshot = await self._workflows.submit(document, inputs)
        return admin_pb2.SubmitWorkflowResponse(workflow=_convert.workflow_to_proto(snapshot))

    @translating
    async def GetWorkflow(
        self, request: admin_pb2.GetWorkflowRequest, context: Context
    ) -> admin_pb2.GetWorkflowResponse:
        snapshot = await self._workflows.get(request.id)
        return admin_pb2.GetWorkflowResponse(workflow=_convert.workflow_to_proto(snapshot))

    @translating
    async def ListWorkflows(
        self, request: admin_pb2.ListWorkflowsRequest, context: Context
    ) -> admin_pb2.ListWorkflowsResponse:
        records = await self._workflows.list_workflows(limit=self._limits.list_size(request.limit))
        return admin_pb2.ListWorkflowsResponse(
            workflows=[
                _convert.workflow_to_proto(
                    Snapshot(record=r, steps=[], tasks={}, last_events={}, spec=None),
                    with_steps=False,
                )
                for r in records
            ]
        )

    @translating
    async def CancelWorkflow(
        self, request: admin_pb2.CancelWorkflowRequest, context: Context
    ) -> admin_pb2.CancelWorkflowResponse:
        snapshot = await self._workflows.cancel(request.id)
        return admin_pb2.CancelWorkflowResponse(workflow=_convert.workflow_to_proto(snapshot))

    async def WatchWorkflow(
        self, request: admin_pb2.WatchWorkflowRequest, context: Context
    ) -> AsyncIterator[admin_pb2.WatchWorkflowResponse]:
        """The workflow now, then again on every change (at most every 200 ms, except its end,
        which goes at once) until it ends."""
        watch = self._workflows.subscribe(request.id)
        try:
            while True:
                try:
                    snapshot = await self._workflows.get(request.id)
                except PhotonError as exc:
                    await abort_for(context, exc)
                yield admin_pb2.WatchWorkflowResponse(workflow=_convert.workflow_to_proto(snapshot))
                if snapshot.record.state.terminal:
                    return
                await watch.changed.wait()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(WATCH_THROTTLE):
                        await watch.ended.wait()
                watch.changed.clear()
        finally:
            self._workflows.unsubscribe(request.id, watch)

    # -- secrets ------------------------------------------------------------------------------

    @translating
    async def SetSecret(
        self, request: admin_pb2.SetSecretRequest, context: Context
    ) -> admin_pb2.SetSecretResponse:
        principal = caller()
        info = await self._secrets.set(
            request.name, request.value, set_by=principal.subject if principal else ""
        )
        return admin_pb2.SetSecretResponse(secret=_convert.secret_to_proto(info))

    @translating
    async def ListSecrets(
        self, request: admin_pb2.ListSecretsRequest, context: Context
    ) -> admin_pb2.ListSecretsResponse:
        infos = await self._secrets.list()
        return admin_pb2.ListSecretsResponse(secrets=[_convert.secret_to_proto(i) for i in infos])

    @translating
    async def DeleteSecret(
        self, request: admin_pb2.DeleteSecretRequest, context: Context
    ) -> admin_pb2.DeleteSecretResponse:
        return admin_pb2.DeleteSecretResponse(versions=await self._secrets.delete(request.name))


def _task_message(task: TaskRecord, reason: str) -> admin_pb2.WatchTaskResponse:
    return admin_pb2.WatchTaskResponse(task=_convert.task_to_proto(task, waiting_reason=reason))
