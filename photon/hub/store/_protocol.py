"""The hub's persistence contract, split by concern; `Store` is all of them.

Every write returns only after it is committed. Reads raise `NotFoundError` for unknown ids;
writes raise `ConflictError` for duplicates and for a task update whose epoch check fails, and
`StoreError` once the store has given up (it could not commit even after retrying briefly:
`failed` is then set, and every later write fails the same way).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol

from ...errors import StoreError
from ...model import TaskState
from ..core import (
    AgentRecord,
    ApiKeyRecord,
    AuditEntry,
    AuditHead,
    AuditRecord,
    JoinTokenRecord,
    SecretRecord,
    StepRecord,
    TaskEventRecord,
    TaskRecord,
    UserRecord,
    WorkflowRecord,
)


class EnrolmentStore(Protocol):
    """Join tokens and the agents that joined with them."""

    async def add_join_token(self, token: JoinTokenRecord) -> None: ...

    async def list_join_tokens(self) -> list[JoinTokenRecord]: ...

    async def revoke_join_token(self, token_id: str) -> None: ...

    async def get_join_token(self, token_id: str) -> JoinTokenRecord: ...

    async def consume_join_token(self, token_id: str, agent: AgentRecord) -> None:
        """Spend one use of the token and add the agent in one transaction. Raises
        ConflictError when the token has no use left or the agent's name is taken."""
        ...

    async def get_agent(self, agent_id: str) -> AgentRecord: ...

    async def list_agents(self) -> list[AgentRecord]: ...

    async def update_agent(self, agent: AgentRecord) -> None: ...

    async def renew_agent_certificate(
        self, agent_id: str, *, serial: str, expires_at: float
    ) -> None:
        """Record the agent's new certificate, changing nothing else about it (a concurrent
        removal stays). Raises NotFoundError when no such agent is a member (unknown, or
        removed)."""
        ...


class CredentialStore(Protocol):
    """The admin API's users and their API keys (only hashes of the keys' secrets)."""

    async def add_user(self, user: UserRecord, key: ApiKeyRecord) -> None:
        """Add the user and its first key in one commit. Raises ConflictError when a user of
        that name exists."""
        ...

    async def list_users(self) -> list[UserRecord]:
        """Every user, by name."""
        ...

    async def delete_user(self, name: str) -> None:
        """Delete the user and all its keys in one commit. Raises NotFoundError."""
        ...

    async def get_api_key(self, key_id: str) -> ApiKeyRecord: ...

    async def count_api_keys(self) -> int: ...


class AuditStore(Protocol):
    """The audit trail, as a hash chain (core/_audit.py): records are appended in order and
    never changed."""

    def append_audit(
        self, entries: Sequence[AuditEntry], *, floor: AuditHead | None = None
    ) -> asyncio.Future[AuditHead]:
        """Link the entries onto the chain, queued now, ahead of any write queued after; the
        future is the chain's new head once committed. They follow the stored head, or `floor`
        when the stored log ends before it (records were cut off: the gap stays for
        verification to name)."""
        ...

    def before_commit(self, hook: Callable[[], None]) -> None:
        """Run `hook` as each batch of writes is taken to be committed: what it writes then
        is committed with the batch."""
        ...

    async def list_audit(
        self,
        *,
        after_seq: int = 0,
        since: float = 0.0,
        actor: str = "",
        action: str = "",
        limit: int = 1000,
    ) -> list[AuditRecord]:
        """Records after `after_seq` in order, those at or after `since` of the actor and
        action given (`action` matches a prefix: `admin.` for every admin call)."""
        ...


class SecretStore(Protocol):
    """Secrets, every version of each, sealed (the store never sees a value)."""

    async def add_secret(self, secret: SecretRecord) -> None:
        """Add one version. Raises ConflictError when the name already has that version."""
        ...

    async def get_secret(self, name: str) -> SecretRecord:
        """The latest version. Raises NotFoundError."""
        ...

    async def list_secrets(self) -> list[SecretRecord]:
        """The latest version of each secret, by name."""
        ...

    async def list_secret_versions(self, name: str) -> list[SecretRecord]:
        """Every version of the secret, oldest first ([] for an unknown name)."""
        ...

    async def delete_secret(self, name: str) -> int:
        """Remove every version; how many there were. Raises NotFoundError."""
        ...


class TaskStore(Protocol):
    """Tasks and their ordered events. Updates are compare-and-set on the attempt's epoch, so
    a writer that lost a task to another (or to a restart) cannot overwrite it."""

    async def insert_tasks(self, tasks: Sequence[TaskRecord]) -> list[tuple[TaskRecord, bool]]:
        """Insert in one commit; for each, the task stored and True, or the earlier task with the
        same idempotency key and False."""
        ...

    async def update_task(
        self,
        task: TaskRecord,
        *,
        expected_epoch: int,
        events: Sequence[TaskEventRecord] = (),
        respec: bool = False,
    ) -> None:
        """Write the task's state (and its spec when `respec`: a fallback tool took over) and
        append its events in one commit, if the stored epoch is still `expected_epoch`; else
        raise ConflictError."""
        ...

    async def claim_unfinished_tasks(self) -> list[TaskRecord]:
        """Take over every unfinished task in one commit. Queued ones (QUEUED, RETRY_WAIT) move
        to a new epoch, fencing off any attempt an earlier owner dispatched without recording
        it; bound ones (ASSIGNED, RUNNING) keep theirs, since their agent may report them."""
        ...

    async def get_task(self, task_id: str) -> TaskRecord: ...

    async def get_tasks(self, task_ids: Collection[str]) -> list[TaskRecord]:
        """The tasks of these ids that exist, in no particular order."""
        ...

    async def list_tasks(
        self,
        *,
        state: TaskState | None = None,
        limit: int = 100,
        tool: str = "",
        agent_id: str = "",
        labels: Mapping[str, str] | None = None,
        since: float = 0.0,
    ) -> list[TaskRecord]:
        """Newest first; only those in `state`, of `tool`, last run by `agent_id`, holding
        each of `labels` and created at or after `since`, for each one given."""
        ...

    async def list_unfinished_tasks(self) -> list[TaskRecord]: ...

    async def list_finished_tasks(self, *, since: float, limit: int) -> list[TaskRecord]:
        """Up to `limit` of the tasks that ended at or after `since` (Unix seconds), in the
        order they ended."""
        ...

    async def attempt_costs(self, *, since: float) -> dict[str, dict[int, float]]:
        """Of the tasks that ended at or after `since`: task id -> attempt -> the dollars its
        `cost` events reported (their `usd`, what is a positive number)."""
        ...

    async def last_event_seqs(self) -> dict[str, int]:
        """The highest event seq of each unfinished task."""
        ...

    async def append_task_events(self, events: Sequence[TaskEventRecord]) -> None: ...

    async def list_task_events(
        self, task_id: str, *, after_seq: int = 0
    ) -> list[TaskEventRecord]: ...


class WorkflowStore(Protocol):
    async def insert_workflow(
        self, workflow: WorkflowRecord, steps: Sequence[StepRecord]
    ) -> None: ...

    async def update_workflow(self, workflow: WorkflowRecord) -> None: ...

    async def update_steps(self, steps: Sequence[StepRecord]) -> None: ...

    async def get_workflow(self, workflow_id: str) -> tuple[WorkflowRecord, list[StepRecord]]: ...

    async def list_workflows(self, *, limit: int = 100) -> list[WorkflowRecord]: ...

    async def list_unfinished_workflows(self) -> list[WorkflowRecord]: ...


class Store(
    EnrolmentStore, CredentialStore, AuditStore, SecretStore, TaskStore, WorkflowStore, Protocol
):
    """Durable state of the hub."""

    @property
    def failed(self) -> asyncio.Event:
        """Set once the store has given up committing; `failure` says why."""
        ...

    @property
    def failure(self) -> StoreError | None: ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...
