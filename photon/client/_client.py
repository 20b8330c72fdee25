"""`PhotonClient`: the asyncio client of the admin API (photonctl, scripts and benchmarks)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import grpc
import grpc.aio

from .._bounds import DOCUMENT, WORKFLOW, JsonBounds, dump_json
from .._repos import isolation
from ..errors import AuthError, InvalidArgumentError, PhotonError, TransportError
from ..model import (
    DEFAULT_PRIORITY,
    DEFAULT_QUEUE_TIMEOUT,
    RetryPolicy,
    TaskSpec,
    TaskState,
    WorkspaceSpec,
)
from ..v1 import admin_pb2, admin_pb2_grpc, auth_pb2, auth_pb2_grpc, common_pb2
from ..wire import CHANNEL_OPTIONS, error_for, spec_to_proto, state_to_proto
from ._context import ClientContext, load_context
from ._types import (
    Agent,
    AuditRecord,
    CostReport,
    JoinTokenInfo,
    SecretInfo,
    Task,
    TaskEvent,
    User,
    Workflow,
    agent_from_proto,
    audit_record_from_proto,
    cost_report_from_proto,
    event_from_proto,
    join_token_from_proto,
    secret_from_proto,
    task_from_proto,
    user_from_proto,
    workflow_from_proto,
)

T = TypeVar("T")
_COST_BY = {
    "tool": admin_pb2.COST_BY_TOOL,
    "agent": admin_pb2.COST_BY_AGENT,
    "workflow": admin_pb2.COST_BY_WORKFLOW,
    "day": admin_pb2.COST_BY_DAY,
}
REFRESH_MARGIN = 60.0
CALL_TIMEOUT = 30.0
BATCH = 1_000  # tasks per SubmitTasks / WaitTasks call
RECONNECT_FOR = 60.0  # seconds a watch keeps trying to reach the hub
RECONNECT_PAUSE = 1.0


class PhotonClient:
    """Talks to a hub's api port over TLS, logging in with an API key (or using a given JWT).

    Every method raises a `photon.errors.PhotonError` subclass: AuthError, PermissionDeniedError,
    NotFoundError, InvalidArgumentError, ConflictError, or TransportError when the hub is
    unreachable. Use as `async with PhotonClient(...) as client:`.
    """

    def __init__(
        self,
        *,
        address: str,
        ca_pem: bytes,
        api_key: str | None = None,
        token: str | None = None,
    ) -> None:
        self._address = address
        self._ca_pem = ca_pem
        self._api_key = api_key
        self._token = token
        self._token_expires = float("inf") if token else 0.0
        self._logging_in = asyncio.Lock()
        self._channel: grpc.aio.Channel | None = None
        self._admin: Any = None
        self._auth: Any = None

    @classmethod
    def from_context(cls, context: ClientContext | None = None) -> PhotonClient:
        """A client for a context; without one, for `load_context()` (the current context of
        the default client config). Raises ConfigError when there is none."""
        context = context or load_context()
        return cls(
            address=context.api,
            ca_pem=context.ca_pem.encode(),
            api_key=context.api_key or None,
            token=context.token or None,
        )

    async def __aenter__(self) -> PhotonClient:
        credentials = grpc.ssl_channel_credentials(root_certificates=self._ca_pem)
        self._channel = grpc.aio.secure_channel(self._address, credentials, options=CHANNEL_OPTIONS)
        self._admin = admin_pb2_grpc.AdminServiceStub(self._channel)
        self._auth = auth_pb2_grpc.AuthServiceStub(self._channel)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close(None)
            self._channel = None

    # -- plumbing -----------------------------------------------------------------------------

    def _token_stale(self) -> bool:
        return self._token is None or time.time() > self._token_expires - REFRESH_MARGIN

    async def _metadata(self) -> tuple[tuple[str, str], ...]:
        if self._token_stale():
            # One login for however many calls are waiting for a token (the hub throttles
            # logins per peer, and each costs it a store read).
            async with self._logging_in:
                if self._token_stale():
                    if self._api_key is None:
                        raise AuthError("no credential: give an API key or a token")
                    response = await self._unary(
                        self._auth.Login, auth_pb2.LoginRequest(api_key=self._api_key), ()
                    )
                    self._token, self._token_expires = response.token, response.expires_at
        return (("authorization", f"Bearer {self._token}"),)

    @staticmethod
    async def _unary(method: Any, request: Any, metadata: Sequence[tuple[str, str]]) -> Any:
        try:
            return await method(request, metadata=metadata, timeout=CALL_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from None

    async def _call(self, name: str, request: Any) -> Any:
        if self._admin is None:
            raise PhotonError("client is not open: use `async with PhotonClient(...)`")
        return await self._unary(getattr(self._admin, name), request, await self._metadata())

    # -- join tokens --------------------------------------------------------------------------

    async def create_join_token(
        self, *, labels: Mapping[str, str] | None = None, ttl: float = 0.0, uses: int = 1
    ) -> tuple[str, JoinTokenInfo]:
        response = await self._call(
            "CreateJoinToken",
            admin_pb2.CreateJoinTokenRequest(labels=dict(labels or {}), ttl_seconds=ttl, uses=uses),
        )
        return response.token, join_token_from_proto(response.join_token)

    async def list_join_tokens(self) -> list[JoinTokenInfo]:
        response = await self._call("ListJoinTokens", admin_pb2.ListJoinTokensRequest())
        return [join_token_from_proto(t) for t in response.join_tokens]

    async def revoke_join_token(self, token_id: str) -> None:
        await self._call("RevokeJoinToken", admin_pb2.RevokeJoinTokenRequest(id=token_id))

    # -- users --------------------------------------------------------------------------------

    async def create_user(self, name: str, role: str) -> tuple[User, str]:
        """The new user and its API key (shown this once)."""
        response = await self._call("CreateUser", admin_pb2.CreateUserRequest(name=name, role=role))
        return user_from_proto(response.user), response.api_key

    async def list_users(self) -> list[User]:
        response = await self._call("ListUsers", admin_pb2.ListUsersRequest())
        return [user_from_proto(u) for u in response.users]

    async def create_user_token(self, name: str, *, ttl: float = 0.0) -> tuple[str, float]:
        """A token acting as the user (for `ttl` seconds, at most and by default 1 h), and
        when it expires."""
        response = await self._call(
            "CreateUserToken", admin_pb2.CreateUserTokenRequest(name=name, ttl_seconds=ttl)
        )
        return response.token, response.expires_at

    async def delete_user(self, name: str) -> None:
        await self._call("DeleteUser", admin_pb2.DeleteUserRequest(name=name))

    # -- dashboard ----------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """The api address this client dials (`host:port`)."""
        return self._address

    async def create_dashboard_login(self) -> tuple[str, int, float]:
        """A one-time dashboard login code for the caller, the hub's http port, and how many
        seconds the code is valid."""
        response = await self._call("CreateDashboardLogin", admin_pb2.CreateDashboardLoginRequest())
        return response.code, response.http_port, response.expires_in_seconds

    # -- audit --------------------------------------------------------------------------------

    async def list_audit(
        self, *, since: float = 0.0, actor: str = "", action: str = "", limit: int = 100
    ) -> list[AuditRecord]:
        """Records in order, those at or after `since` (unix time) of `actor`, whose action
        starts with `action`."""
        request = admin_pb2.ListAuditRequest(since=since, actor=actor, action=action, limit=limit)
        response = await self._call("ListAudit", request)
        return [audit_record_from_proto(r) for r in response.records]

    async def verify_audit(self) -> tuple[int, str]:
        """How many records the trail holds, and why it is not intact ("" when it is)."""
        response = await self._call("VerifyAudit", admin_pb2.VerifyAuditRequest())
        return response.records, "" if response.intact else response.problem

    # -- agents -------------------------------------------------------------------------------

    async def list_agents(self) -> list[Agent]:
        response = await self._call("ListAgents", admin_pb2.ListAgentsRequest())
        return [agent_from_proto(a) for a in response.agents]

    async def get_agent(self, agent: str) -> Agent:
        """By id or unique name."""
        response = await self._call("GetAgent", admin_pb2.GetAgentRequest(id=agent))
        return agent_from_proto(response.agent)

    async def drain_agent(self, agent: str) -> Agent:
        response = await self._call("DrainAgent", admin_pb2.DrainAgentRequest(id=agent))
        return agent_from_proto(response.agent)

    async def undrain_agent(self, agent: str) -> Agent:
        response = await self._call("UndrainAgent", admin_pb2.UndrainAgentRequest(id=agent))
        return agent_from_proto(response.agent)

    async def remove_agent(self, agent: str) -> None:
        """Revoke an agent: its stream closes and its certificate is refused from now on."""
        await self._call("RemoveAgent", admin_pb2.RemoveAgentRequest(id=agent))

    # -- secrets ------------------------------------------------------------------------------

    async def set_secret(self, name: str, value: bytes | str) -> SecretInfo:
        """Store `value` (UTF-8 text, no NUL byte, at most the hub's max-secret-bytes) as the
        next version of secret `name`; needs the admin role. Returns the new version's info."""
        data = value.encode() if isinstance(value, str) else bytes(value)
        response = await self._call("SetSecret", admin_pb2.SetSecretRequest(name=name, value=data))
        return secret_from_proto(response.secret)

    async def list_secrets(self) -> list[SecretInfo]:
        """Every secret's latest version (never a value); needs the operator role."""
        response = await self._call("ListSecrets", admin_pb2.ListSecretsRequest())
        return [secret_from_proto(s) for s in response.secrets]

    async def delete_secret(self, name: str) -> int:
        """Remove every version of the secret; how many there were. Needs the admin role."""
        response = await self._call("DeleteSecret", admin_pb2.DeleteSecretRequest(name=name))
        return int(response.versions)

    # -- reports ------------------------------------------------------------------------------

    async def report_cost(self, *, since: float, by: str = "tool") -> CostReport:
        """What AI tools reported spending on the tasks that ended at or after `since` (Unix
        seconds), grouped `by` tool, agent, workflow or day (UTC). Raises
        InvalidArgumentError for another grouping."""
        grouping = _COST_BY.get(by)
        if grouping is None:
            raise InvalidArgumentError(
                f"cannot group a cost report by {by!r} (choose from {', '.join(_COST_BY)})"
            )
        request = admin_pb2.ReportCostRequest(since=since, by=grouping)
        return cost_report_from_proto(await self._call("ReportCost", request))

    # -- tasks --------------------------------------------------------------------------------

    async def submit(self, tool: str, action: str = "", **fields: Any) -> Task:
        """Submit a task; `fields` are those of `task_spec`."""
        request = admin_pb2.SubmitTaskRequest(
            spec=_spec_to_proto(task_spec(tool, action, **fields))
        )
        response = await self._call("SubmitTask", request)
        return task_from_proto(response.task)

    async def submit_many(self, specs: Iterable[TaskSpec]) -> list[Task]:
        """Submit tasks made with `task_spec`, committed together in batches of up to
        `BATCH` (each batch is accepted whole or refused whole)."""
        tasks: list[Task] = []
        for chunk in _chunks([_spec_to_proto(s) for s in specs], BATCH):
            response = await self._call("SubmitTasks", admin_pb2.SubmitTasksRequest(specs=chunk))
            tasks += [task_from_proto(r.task) for r in response.results]
        return tasks

    async def run(
        self,
        tool: str,
        action: str = "",
        *,
        on_update: Callable[[Task | TaskEvent], None] | None = None,
        **fields: Any,
    ) -> Task:
        """Submit a task and follow it to its end on the same call; returns the ended task.

        `on_update` gets each update as `wait` gives it; without it, only the end travels.
        """
        request = admin_pb2.RunTaskRequest(
            spec=_spec_to_proto(task_spec(tool, action, **fields)), quiet=on_update is None
        )
        progress = _Progress(on_update)
        try:
            if (ended := await progress.follow(self._stream("RunTask", request))) is not None:
                return ended
        except TransportError:
            if progress.last is None:  # not known to be submitted: the caller decides
                raise
        assert progress.last is not None, "a RunTask stream starts with the task"
        return await self.wait(progress.last.id, on_update=on_update, after_seq=progress.after)

    async def get_task(self, task_id: str) -> Task:
        response = await self._call("GetTask", admin_pb2.GetTaskRequest(id=task_id))
        return task_from_proto(response.task)

    async def cancel_task(self, task_id: str) -> Task:
        response = await self._call("CancelTask", admin_pb2.CancelTaskRequest(id=task_id))
        return task_from_proto(response.task)

    async def list_tasks(
        self,
        *,
        state: TaskState | None = None,
        limit: int = 100,
        tool: str = "",
        agent: str = "",
        labels: Mapping[str, str] | None = None,
        since: float = 0.0,
    ) -> list[Task]:
        """The newest tasks first, only those matching each filter given: `state`, `tool`, the
        `agent` (id or name) that ran them, `labels` they all hold, created at or after
        `since` (unix time)."""
        request = admin_pb2.ListTasksRequest(
            limit=limit,
            state=state_to_proto(state) if state else "TASK_STATE_UNSPECIFIED",
            tool=tool,
            agent=agent,
            labels=dict(labels or {}),
            since=since,
        )
        response = await self._call("ListTasks", request)
        return [task_from_proto(t) for t in response.tasks]

    async def watch(
        self, task_id: str, *, after_seq: int = 0, follow: bool = True
    ) -> AsyncIterator[Task | TaskEvent]:
        """The task's record, its events, then live updates; ends after the terminal record.
        Without `follow`, ends after the events stored so far."""
        request = admin_pb2.WatchTaskRequest(
            id=task_id, after_seq=after_seq, stored_only=not follow
        )
        async for item in self._stream("WatchTask", request):
            yield item

    async def _stream(self, name: str, request: Any) -> AsyncIterator[Task | TaskEvent]:
        """A WatchTaskResponse stream's items."""
        async for message in self._server_stream(name, request):
            if message.WhichOneof("body") == "event":
                yield event_from_proto(message.event)
            else:
                yield task_from_proto(message.task)

    async def _server_stream(self, name: str, request: Any) -> AsyncIterator[Any]:
        if self._admin is None:
            raise PhotonError("client is not open: use `async with PhotonClient(...)`")
        call = getattr(self._admin, name)(request, metadata=await self._metadata())
        try:
            async for message in call:
                yield message
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from None

    async def wait(
        self,
        task_id: str,
        *,
        on_update: Callable[[Task | TaskEvent], None] | None = None,
        after_seq: int = 0,
    ) -> Task:
        """Follow a task until it ends. A broken stream is resumed where it stopped; raises
        TransportError once the hub has been unreachable for `RECONNECT_FOR` seconds."""
        progress = _Progress(on_update, after=after_seq)
        return await _retrying(
            lambda: progress.follow(self.watch(task_id, after_seq=progress.after))
        )

    async def wait_many(self, task_ids: Iterable[str]) -> list[Task]:
        """Wait until every task has ended; returns them in the order of `task_ids`."""
        wanted = list(task_ids)  # read once: `task_ids` may be a generator
        ended: dict[str, Task] = {}
        for chunk in _chunks(list(dict.fromkeys(wanted)), BATCH):
            request = admin_pb2.WaitTasksRequest(ids=chunk)
            async for message in self._server_stream("WaitTasks", request):
                for task in map(task_from_proto, message.tasks):
                    ended[task.id] = task
        return [ended[task_id] for task_id in wanted]

    # -- workflows ----------------------------------------------------------------------------

    async def submit_workflow(
        self, document: Mapping[str, Any], *, inputs: Mapping[str, Any] | None = None
    ) -> Workflow:
        """Start a workflow from a parsed workflow file (docs/workflows.md). Raises
        InvalidArgumentError naming the step and field at fault."""
        if not isinstance(document, Mapping):
            raise InvalidArgumentError(
                f"a workflow must be a mapping with name and steps, not a {type(document).__name__}"
            )
        request = admin_pb2.SubmitWorkflowRequest(
            document_json=_json(dict(document), "workflow", WORKFLOW),
            inputs_json=_json(dict(inputs or {}), "inputs"),
        )
        response = await self._call("SubmitWorkflow", request)
        return workflow_from_proto(response.workflow)

    async def get_workflow(self, workflow_id: str) -> Workflow:
        response = await self._call("GetWorkflow", admin_pb2.GetWorkflowRequest(id=workflow_id))
        return workflow_from_proto(response.workflow)

    async def list_workflows(self, *, limit: int = 100) -> list[Workflow]:
        response = await self._call("ListWorkflows", admin_pb2.ListWorkflowsRequest(limit=limit))
        return [workflow_from_proto(w) for w in response.workflows]

    async def cancel_workflow(self, workflow_id: str) -> Workflow:
        response = await self._call(
            "CancelWorkflow", admin_pb2.CancelWorkflowRequest(id=workflow_id)
        )
        return workflow_from_proto(response.workflow)

    async def watch_workflow(self, workflow_id: str) -> AsyncIterator[Workflow]:
        """The workflow now and after every change; ends once it has ended."""
        request = admin_pb2.WatchWorkflowRequest(id=workflow_id)
        async for message in self._server_stream("WatchWorkflow", request):
            yield workflow_from_proto(message.workflow)

    async def wait_workflow(
        self, workflow_id: str, *, on_update: Callable[[Workflow], None] | None = None
    ) -> Workflow:
        """Follow a workflow until it ends, reconnecting as `wait` does."""

        async def attempt() -> Workflow | None:
            last: Workflow | None = None
            async for workflow in self.watch_workflow(workflow_id):
                last = workflow
                if on_update is not None:
                    on_update(workflow)
            return last if last is not None and last.state.terminal else None

        return await _retrying(attempt)


def task_spec(
    tool: str,
    action: str = "",
    *,
    inputs: Mapping[str, Any] | None = None,
    selector: str = "",
    agent: str = "",
    priority: int | None = None,
    timeout: float | None = None,
    queue_timeout: float | None = None,
    retry: RetryPolicy | None = None,
    idempotency_key: str = "",
    locks: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    continue_from: str = "",
    fallback: Sequence[str] = (),
    budget_usd: float | None = None,
    workspace: WorkspaceSpec | Mapping[str, str] | None = None,
) -> TaskSpec:
    """A task to submit (docs/tasks.md); unset fields take the hub's defaults. `workspace` may
    be given as JSON would, `{"repo": ..., "ref": ..., "isolate": ...}`."""
    return TaskSpec(
        tool=tool,
        action=action,
        inputs=dict(inputs or {}),
        selector=selector,
        agent=agent,
        priority=DEFAULT_PRIORITY if priority is None else priority,
        timeout=timeout,
        queue_timeout=queue_timeout or DEFAULT_QUEUE_TIMEOUT,
        retry=retry or RetryPolicy(),
        idempotency_key=idempotency_key,
        locks=tuple(locks),
        env=dict(env or {}),
        labels=dict(labels or {}),
        continue_from=continue_from,
        fallback=tuple(fallback),
        budget_usd=budget_usd,
        workspace=_workspace(workspace),
    )


def _workspace(value: WorkspaceSpec | Mapping[str, str] | None) -> WorkspaceSpec | None:
    """Raises InvalidArgumentError for a mapping with other keys or an unknown `isolate`."""
    if value is None or isinstance(value, WorkspaceSpec):
        return value
    if unknown := set(value) - {"repo", "ref", "isolate"}:
        raise InvalidArgumentError(f"workspace: unknown field {min(unknown)!r}")
    return WorkspaceSpec(
        repo=str(value.get("repo", "")),
        ref=str(value.get("ref", "")),
        isolate=isolation(str(value.get("isolate", ""))),
    )


@dataclass(slots=True)
class _Progress:
    """What following a task has seen so far: its latest record and event."""

    on_update: Callable[[Task | TaskEvent], None] | None
    after: int = 0  # the last event's seq
    last: Task | None = None

    async def follow(self, items: AsyncIterator[Task | TaskEvent]) -> Task | None:
        """Take a stream's updates; the task once it has ended, else None."""
        async for item in items:
            if isinstance(item, TaskEvent):
                self.after = max(self.after, item.seq)
            else:
                self.last = item
            if self.on_update is not None:
                self.on_update(item)
        return self.last if self.last is not None and self.last.state.terminal else None


async def _retrying(attempt: Callable[[], Awaitable[T | None]]) -> T:
    """Repeat a streaming call's `attempt` until it gives a result. TransportError is retried
    after a pause, and raised once the hub has been unreachable for `RECONNECT_FOR` seconds."""
    failing_since: float | None = None
    while True:
        try:
            result = await attempt()
        except TransportError:
            now = time.monotonic()
            failing_since = failing_since or now
            if now - failing_since >= RECONNECT_FOR:
                raise
            await asyncio.sleep(RECONNECT_PAUSE)
            continue
        failing_since = None
        if result is not None:
            return result


def _json(value: Mapping[str, Any], field: str, bounds: JsonBounds = DOCUMENT) -> str:
    """A document as JSON, within the bounds a hub at its default limits takes (so that what
    would fail there, or take the client down first, fails here with the same words). Raises
    InvalidArgumentError naming the field."""
    try:
        return dump_json(value, bounds)
    except (TypeError, ValueError) as exc:  # OutOfBounds too
        raise InvalidArgumentError(f"{field}: {exc}") from None


def _spec_to_proto(spec: TaskSpec) -> common_pb2.TaskSpec:
    """The spec's message, its inputs checked as `_json` checks them."""
    inputs_json = _json(dict(spec.inputs), "inputs")
    message = spec_to_proto(replace(spec, inputs={}))
    message.inputs_json = inputs_json
    return message


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    return (items[start : start + size] for start in range(0, len(items), size))


def _translate(exc: grpc.aio.AioRpcError) -> PhotonError:
    details = exc.details() or exc.code().name.lower()
    if exc.code() == grpc.StatusCode.UNAVAILABLE:
        details = f"hub unreachable: {details}"
    return error_for(exc.code(), details)
