"""The task engine: carries out the task machine's commands and answers for tasks.

The machine decides; the engine feeds it events (submissions, agents' messages, time) and does
what the commands say: writes to the store, messages on agents' streams, slots in the fleet.
Every transition is applied in memory at once and persisted with its state event; no client is
told of a transition before its commit (watchers get each state after it). Agents are told at
once: dispatch overlaps the commits, and attempt fencing keeps late or duplicate results out.
Writes for one task reach the store in the order the transitions happened.

A write that fails is never retried here: the store has already retried it briefly, so the
engine reports it as fatal (`on_fatal`) and the hub stops serving; a restarted hub reloads
from the store, which holds everything anyone was told.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from ..._env import check_env, references
from ..._ids import new_ulid
from ..._repos import check_workspace, workspace_lock
from ..._selector import parse_selector
from ..._text import shorten
from ...errors import ConflictError, InvalidArgumentError, NotFoundError, SecretError
from ...model import Failure, FailureClass, TaskSpec, ToolInfo
from ..core import DEFAULT_LIMITS, AgentRecord, AttemptRef, Limits, TaskEventRecord, TaskRecord
from ..fleet import AssignTask, Fleet, SetDraining
from ..stats import HubStats
from ..store import EnrolmentStore, TaskStore
from . import _log
from ._budget import with_budget_input
from ._machine import (
    QUEUED,
    Command,
    Free,
    Instant,
    Occupy,
    Outcome,
    Persist,
    Progress,
    Record,
    Send,
    TaskMachine,
    submitted,
)
from ._quota import QuotaBlock
from ._scheduler import ToolLimit, refusal
from ._sessions import continue_session
from ._validation import check_spec

log = logging.getLogger(__name__)
CHECKS_PER_TURN = 250  # specs of a batch checked between yields to the event loop

WatchItem = TaskRecord | TaskEventRecord


class TaskStoreWithAgents(TaskStore, EnrolmentStore, Protocol):
    """What the engine needs of the store: tasks, and agents to resolve pins."""


class SecretResolver(Protocol):
    """Where the engine finds the secrets tasks reference (the hub's `Secrets`)."""

    def exists(self, name: str) -> bool: ...

    def resolve(self, names: Iterable[str], *, purpose: str = "") -> dict[str, str]:
        """The latest values, opened for `purpose`. Raises NotFoundError, SecretError."""
        ...


class _NoSecrets:
    def exists(self, name: str) -> bool:
        return False

    def resolve(self, names: Iterable[str], *, purpose: str = "") -> dict[str, str]:
        for name in names:
            raise NotFoundError(f"no secret named {name!r}")
        return {}


def _now() -> Instant:
    return Instant(wall=time.time(), mono=time.monotonic())


class TaskEngine:
    """Owns every unfinished task in memory (through its `TaskMachine`) and drives it."""

    def __init__(
        self,
        *,
        store: TaskStoreWithAgents,
        fleet: Fleet,
        lost_after: float,
        failover_grace: float,
        tool_limits: Mapping[str, ToolLimit] | None = None,
        limits: Limits = DEFAULT_LIMITS,
        secrets: SecretResolver | None = None,
        on_fatal: Callable[[BaseException], None] | None = None,
        stats: HubStats | None = None,
    ) -> None:
        self._store = store
        self._stats = stats or HubStats()
        self._fleet = fleet
        self._secrets: SecretResolver = secrets or _NoSecrets()
        self._lost_after = lost_after
        self._failover_grace = failover_grace
        self._tool_limits = dict(tool_limits or {})
        self._limits = limits
        self._machine = TaskMachine(tool_limits=self._tool_limits, limits=limits)
        self._on_fatal = on_fatal or _log_fatal
        self._published: dict[str, int] = {}  # the last event seq committed and published
        self._watchers: dict[str, set[asyncio.Queue[WatchItem]]] = {}
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._inflight: set[asyncio.Future[Any]] = set()
        self._failed = False
        self._observers: list[Callable[[WatchItem], None]] = []
        self._followers: list[Callable[[TaskRecord], None]] = []
        # Tasks that ended, their end not yet committed: what a follow-up continues (a workflow
        # submits the next step as soon as the end is applied, so the store may lag behind).
        self._ending: dict[str, TaskRecord] = {}

    # -- lifecycle ----------------------------------------------------------------------------

    async def load(self) -> None:
        """Take over the unfinished tasks and agents a previous hub left in the store."""
        awaited = {a.id for a in await self._store.list_agents() if not a.removed}
        tasks = await self._store.claim_unfinished_tasks()
        seqs = await self._store.last_event_seqs()
        self._machine = TaskMachine(
            tool_limits=self._tool_limits,
            limits=self._limits,
            awaited=awaited,
            grace_until=time.monotonic() + self._failover_grace,
        )
        self._machine.load(tasks, seqs, _now())
        self._published = {t.id: seqs.get(t.id, 0) for t in tasks}
        log.info("engine loaded %d unfinished task(s)", len(tasks))

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            loops = [
                group.create_task(self._dispatch_loop()),
                group.create_task(self._monitor_loop()),
            ]
            await self._stopping.wait()
            for loop in loops:
                loop.cancel()

    def stop(self) -> None:
        self._stopping.set()

    async def flush(self) -> None:
        """Wait for every transition already applied to be committed (or to fail)."""
        while self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)

    def _track(self, future: asyncio.Future[None]) -> asyncio.Future[None]:
        self._inflight.add(future)
        future.add_done_callback(self._settled)
        return future

    def _settled(self, future: asyncio.Future[None]) -> None:
        self._inflight.discard(future)
        if not future.cancelled() and (error := future.exception()) is not None:
            if not self._failed:  # the first says it; the hub is stopping for it
                self._failed = True
                log.error("could not commit a task transition: %s", error)
            self._on_fatal(error)

    # -- carrying out commands ----------------------------------------------------------------

    def _carry_out(self, commands: Sequence[Command]) -> list[asyncio.Future[None]]:
        """Do what the machine decided, in order; the futures of the writes it started."""
        writes: list[asyncio.Future[None]] = []
        for command in commands:
            if isinstance(command, Persist):
                if command.waited is not None:
                    self._stats.task_dispatched(command.waited)
                if command.task.state.terminal:
                    self._ending[command.task.id] = command.task
                for follower in self._followers:
                    follower(command.task)
                # Started now, so this task's writes are queued in the order they happened.
                writes.append(self._track(asyncio.ensure_future(self._persist(command))))
            elif isinstance(command, Record):
                writes.append(self._track(asyncio.ensure_future(self._append(command.events))))
            elif isinstance(command, Send):
                self._send(command)
            else:
                session = self._fleet.get(command.agent_id)
                if session is not None:
                    if isinstance(command, Occupy):
                        session.hold(command.task_id)
                    else:
                        assert isinstance(command, Free)
                        session.release(command.task_id)
        if any(not isinstance(c, Record) for c in commands):  # progress places nothing
            self._wake.set()
        return writes

    def _send(self, command: Send) -> None:
        session = self._fleet.get(command.agent_id)
        if session is None:  # the agent is gone; it learns when it reconnects
            return
        message = command.message
        if isinstance(message, AssignTask) and message.task.spec.env:
            secrets = self._open_secrets(command.agent_id, message.task)
            if secrets is None:
                return
            message = replace(message, secrets=secrets)
        session.send(message)

    def _open_secrets(self, agent_id: str, task: TaskRecord) -> dict[str, str] | None:
        """The values of the secrets the task's env references, opened for its Assign only
        (the task keeps the references). When one is gone (deleted since the submission) or
        does not open, the attempt fails as `invalid_input` naming the variable, and None is
        returned: nothing is sent, least of all the reference in place of the value."""
        # Opened inline: AES-GCM takes about 2 µs for a short value and 10 µs at 64 KiB, so
        # even a pass that places thousands of tasks holds the event loop for milliseconds.
        values: dict[str, str] = {}
        for key, name in references(task.spec.env).items():
            try:
                purpose = f"task {task.id} attempt {task.attempt} on agent {agent_id}"
                values.update(self._secrets.resolve([name], purpose=purpose))
            except NotFoundError:
                reason = (
                    f"env {shorten(key, 40)}: secret {name!r} no longer exists"
                    " (deleted since submit)"
                )
            except SecretError as exc:
                reason = f"env {shorten(key, 40)}: {exc}"
            else:
                continue
            log.warning("task %s not sent to agent %s: %s", task.id, agent_id, reason)
            failure = Failure(failure_class=FailureClass.INVALID_INPUT, message=reason)
            self._carry_out(self._machine.undeliverable(agent_id, task.ref, failure, _now()))
            return None
        return values

    async def _persist(self, command: Persist) -> None:
        task = command.task
        try:
            await self._store.update_task(
                task,
                expected_epoch=command.expected_epoch,
                events=[command.event],
                respec=command.respec,
            )
        finally:
            if self._ending.get(task.id) is task:
                del self._ending[task.id]
        _log.transition(task, self._limits)
        if task.state.terminal:
            self._stats.task_finished(task)
        self._publish(task.id, command.event)
        self._publish(task.id, task)
        for then in command.then:
            self._send(then)

    async def _append(self, records: Sequence[TaskEventRecord]) -> None:
        await self._store.append_task_events(records)
        for record in records:
            self._publish(record.task_id, record)

    # -- submissions, queries, cancellation ---------------------------------------------------

    async def submit(self, spec: TaskSpec, *, refuse: bool = True) -> tuple[TaskRecord, bool]:
        [result] = await self.submit_many([spec], refuse=refuse, single=True)
        return result

    async def submit_many(
        self,
        specs: Iterable[TaskSpec],
        *,
        refuse: bool = True,
        fresh_keys: bool = False,
        single: bool = False,
    ) -> list[tuple[TaskRecord, bool]]:
        """Commit new tasks in one store write; for each, the task and True, or its idempotent
        twin and False. Raises InvalidArgumentError, NotFoundError (a pinned agent that is not
        a member), or ConflictError when no connected agent could ever run one (unless
        `refuse` is False: then it waits, with the reason, like any task that cannot be placed
        yet), naming the spec by its index unless it is the `single` one; either way nothing
        is submitted. Raises StoreError when the store has failed.

        `specs` are taken one at a time and checked as they come (a lazy iterable is converted
        only as far as the first spec refused), yielding to the event loop every
        CHECKS_PER_TURN of them: a batch of thousands holds up no other client.

        A task without an idempotency key is queued at once, so its dispatch overlaps the
        commit; a keyed one only once the store has ruled out a twin, unless the caller knows
        its keys were never used (`fresh_keys`: it made them up itself). Once the checks pass,
        the submission completes even if the caller goes away meanwhile: every task in the
        store runs to an end.
        """
        members: dict[str, AgentRecord] | None = None
        continued: dict[str, TaskRecord] = {}
        checked = []
        for index, spec in enumerate(specs):
            if index and not index % CHECKS_PER_TURN:
                await asyncio.sleep(0)
            try:
                if spec.agent and members is None:
                    members = {a.id: a for a in await self._store.list_agents()}
                if spec.continue_from and spec.continue_from not in continued:
                    continued[spec.continue_from] = await self._continued(spec.continue_from)
                checked.append(
                    self._check(
                        spec,
                        refuse=refuse,
                        members=members or {},
                        previous=continued.get(spec.continue_from),
                    )
                )
            except (InvalidArgumentError, ConflictError, NotFoundError) as exc:
                raise exc if single else type(exc)(f"spec {index}: {exc}") from None
        now = _now()
        tasks = [submitted(new_ulid(), spec, now) for spec in checked]
        early = {task.id for task in tasks if fresh_keys or not task.spec.idempotency_key}
        for task in tasks:
            if task.id in early:
                self._machine.admit(task)
                self._published[task.id] = 0
        self._wake.set()
        commit = asyncio.ensure_future(self._insert(tasks, early))
        self._inflight.add(commit)
        commit.add_done_callback(self._inserted)
        # Shielded: a caller that gives up must not stop the admission half-way.
        return await asyncio.shield(commit)

    def _inserted(self, commit: asyncio.Future[Any]) -> None:
        # Its caller hears of a failure, if it still waits; the store reports it either way.
        self._inflight.discard(commit)
        if not commit.cancelled():
            commit.exception()

    async def _insert(
        self, tasks: list[TaskRecord], early: set[str]
    ) -> list[tuple[TaskRecord, bool]]:
        try:
            results = await self._store.insert_tasks(tasks)
        except BaseException:
            for task_id in early:
                self._published.pop(task_id, None)
                self._carry_out(
                    self._machine.abandon(task_id, "its submission could not be recorded")
                )
            raise
        _log.submitted(
            [t for t, (_, created) in zip(tasks, results, strict=True) if created], self._limits
        )
        for task, (_, created) in zip(tasks, results, strict=True):
            if created:
                self._stats.task_submitted(task.spec.tool)
            if task.id not in early and created:
                self._machine.admit(task)
                self._published[task.id] = 0
            elif task.id in early and not created:  # the caller's keys were not fresh after all
                self._published.pop(task.id, None)
                self._carry_out(self._machine.abandon(task.id, "it has an idempotent twin"))
        self._wake.set()
        return results

    async def _continued(self, task_id: str) -> TaskRecord:
        """The task a submission continues. Raises NotFoundError."""
        try:
            known = self._machine.get(task_id) or self._ending.get(task_id)
            return known or await self._store.get_task(task_id)
        except NotFoundError:
            raise NotFoundError(f"continue_from: task {task_id} not found") from None

    def _check(
        self,
        spec: TaskSpec,
        *,
        refuse: bool,
        members: Mapping[str, AgentRecord],
        previous: TaskRecord | None = None,
    ) -> TaskSpec:
        if spec.selector:
            parse_selector(spec.selector)
        if spec.agent:
            spec = replace(spec, agent=_resolve_pin(spec.agent, members))
        if spec.env:
            self.check_env(spec.env)
        if spec.workspace is not None:
            check_workspace(spec.workspace)
            lock = workspace_lock(spec.workspace)
            if lock is not None and lock not in spec.locks:
                spec = replace(spec, locks=(*spec.locks, lock))
        tools = [t for s in self._fleet for t in s.tools]
        if previous is not None:
            spec = continue_session(spec, previous, tools)
        spec = check_spec(with_budget_input(spec, tools), tools)
        if refuse and (reason := self.refusal(spec)):
            raise ConflictError(reason)
        return spec

    def check_env(self, env: Mapping[str, str]) -> None:
        """Raise InvalidArgumentError naming the variable for a name or value an environment
        cannot hold, or a reference to a secret that does not exist."""
        check_env(env, max_name_length=self._limits.max_name_length)
        for key, name in references(env).items():
            if not self._secrets.exists(name):
                raise InvalidArgumentError(f"env {shorten(key, 40)}: no secret named {name!r}")

    def refusal(self, spec: TaskSpec) -> str | None:
        """Why no connected agent could ever run the task: its tool is absent or disabled on
        all of them. None when one could, or while agents may still be coming back after a
        restart."""
        if self._machine.in_failover(time.monotonic()):
            return None
        return refusal(spec, [s.view() for s in self._fleet if s.stream_open])

    def tools(self) -> list[ToolInfo]:
        """What the connected agents offer."""
        return self._fleet.tools()

    def quota_blocks(self) -> list[QuotaBlock]:
        """The tools out of quota on agents now, and until when (docs/tasks.md)."""
        return self._machine.quota_blocks(time.monotonic())

    async def get(self, task_id: str) -> tuple[TaskRecord, str]:
        """The task and, when queued, why it is waiting. Raises NotFoundError."""
        task = self._machine.get(task_id) or await self._store.get_task(task_id)
        return task, self.waiting_reason(task)

    async def get_many(self, task_ids: Collection[str]) -> dict[str, TaskRecord]:
        """The tasks by id, as `get` gives them. Raises NotFoundError for an unknown id."""
        found = {i: t for i in task_ids if (t := self._machine.get(i)) is not None}
        for task in await self._store.get_tasks([i for i in task_ids if i not in found]):
            found[task.id] = task
        if unknown := set(task_ids) - found.keys():
            raise NotFoundError(f"task {min(unknown)} not found")
        return found

    async def ended_of(self, task_ids: Collection[str]) -> list[TaskRecord]:
        """Those of the tasks whose end is committed. Raises NotFoundError for an unknown id."""
        tasks = await self.get_many(task_ids)
        return [task for task in tasks.values() if task.state.terminal]

    def queued(self) -> dict[str, int]:
        """How many tasks wait in the queue (queued, or waiting to retry), by tool."""
        counts: dict[str, int] = {}
        for task in self._machine.tasks():
            if task.state in QUEUED:
                counts[task.spec.tool] = counts.get(task.spec.tool, 0) + 1
        return counts

    def waiting_reason(self, task: TaskRecord) -> str:
        return self.waiting_reasons([task])[0]

    def waiting_reasons(self, tasks: Sequence[TaskRecord]) -> list[str]:
        """Why each queued task waits ("" for the others), judged on one view of the fleet."""
        if not any(task.state in QUEUED for task in tasks):
            return [""] * len(tasks)
        views = self._fleet.views()
        return [
            self._machine.waiting_reason(task, views) if task.state in QUEUED else ""
            for task in tasks
        ]

    async def cancel(self, task_id: str) -> TaskRecord:
        """Cancel a task: queued ones end at once; running ones are killed on their agent.
        Returns once the cancellation is committed.

        Raises NotFoundError, or ConflictError when the task has already ended.
        """
        if task_id not in self._machine:
            ended = await self._store.get_task(task_id)
            raise ConflictError(f"task {task_id} has already ended ({ended.state})")
        commands = self._machine.cancel(task_id, _now())
        await asyncio.gather(*self._carry_out(commands))
        persist = next(c for c in commands if isinstance(c, Persist))
        return persist.task

    async def set_draining(self, agent: AgentRecord, draining: bool) -> AgentRecord:
        """Drain a member agent (no new work goes to it; its running tasks finish), or take
        it back; the agent as stored now."""
        agent = replace(agent, draining=draining)
        await self._store.update_agent(agent)
        session = self._fleet.get(agent.id)
        if session is not None:
            session.set_draining(draining)
            session.send(SetDraining(draining=draining))
        self.wake()
        return agent

    async def resolve_agent(self, pin: str) -> str:
        """The id of the member agent `pin` names (its id, else its name). Raises
        NotFoundError."""
        return _resolve_pin(pin, {a.id: a for a in await self._store.list_agents()})

    # -- watchers -----------------------------------------------------------------------------

    def subscribe(
        self, task_id: str, queue: asyncio.Queue[WatchItem] | None = None
    ) -> asyncio.Queue[WatchItem]:
        """Get every committed update of the task from now on (on `queue`, or a new one)."""
        queue = queue if queue is not None else asyncio.Queue()
        self._watchers.setdefault(task_id, set()).add(queue)
        return queue

    def published_seq(self, task_id: str) -> int | None:
        """The last event seq watchers were given, for tasks in memory; None for the others
        (their events are all in the store)."""
        return self._published.get(task_id) if task_id in self._machine else None

    def unsubscribe(self, task_id: str, queue: asyncio.Queue[WatchItem]) -> None:
        watchers = self._watchers.get(task_id)
        if watchers is not None:
            watchers.discard(queue)
            if not watchers:
                del self._watchers[task_id]

    def follow(self, follower: Callable[[TaskRecord], None]) -> None:
        """Call `follower` with every task update as it is applied, before its commit: for
        hub parts that act on it (in order with its commit), never to tell a client."""
        self._followers.append(follower)

    def observe(self, observer: Callable[[WatchItem], None]) -> None:
        """Call `observer` with every committed task update and event (of every task)."""
        self._observers.append(observer)

    def _publish(self, task_id: str, item: WatchItem) -> None:
        if isinstance(item, TaskEventRecord):
            self._published[task_id] = item.seq
        elif item.state.terminal:
            self._published.pop(task_id, None)
        for queue in self._watchers.get(task_id, ()):
            queue.put_nowait(item)
        for observer in self._observers:
            observer(item)

    # -- dispatch -----------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def _dispatch_loop(self) -> None:
        while True:
            now = _now()
            self._wake.clear()
            if self._machine.has_queued():  # an empty queue need not look at every agent
                commands = self._machine.dispatch(self._fleet.views(), now, self._fleet.tools())
                if commands:
                    self._carry_out(commands)
                    self._wake.clear()  # nothing it did can place more in this pass's place
            # Measured from the same `now` as the pass above, so a backed-off task that became
            # ready during the pass is not forgotten.
            next_ready = self._machine.next_ready(now.mono)
            timeout = None if next_ready is None else max(next_ready - time.monotonic(), 0.0)
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                pass

    # -- messages from agents -----------------------------------------------------------------

    # Agent messages are handled without waiting for their commits, so one agent's stream keeps
    # flowing while the store batches.

    def on_accepted(self, agent_id: str, ref: AttemptRef) -> None:
        self._carry_out(self._machine.accepted(agent_id, ref, _now()))

    def on_progress(self, agent_id: str, ref: AttemptRef, events: Sequence[Progress]) -> None:
        self._carry_out(self._machine.progress(agent_id, ref, events, _now()))

    def over_budget(self, agent_id: str) -> bool:
        return self._machine.over_budget(agent_id)

    def on_result(self, agent_id: str, ref: AttemptRef, outcome: Outcome) -> None:
        """Record the outcome if this is still the current attempt (the agent is acked once it
        is committed); a stale result is acked at once and dropped."""
        commands = self._machine.result(agent_id, ref, outcome, _now())
        if not any(isinstance(c, Persist) for c in commands):
            log.info(
                "dropping stale result for task %s attempt %d epoch %d from agent %s",
                ref.task_id,
                ref.attempt,
                ref.epoch,
                agent_id,
            )
        self._carry_out(commands)

    def on_agent_connected(
        self, agent_id: str, *, running: Sequence[AttemptRef], held: Sequence[AttemptRef]
    ) -> None:
        """Reconcile what the agent says it runs with what the hub assigned to it."""
        self._carry_out(
            self._machine.agent_connected(agent_id, running=running, held=held, now=_now())
        )
        self._wake.set()  # tasks pinned to it, or continuing a session it holds, can go now

    def on_agent_lost(self, agent_id: str) -> None:
        self._carry_out(self._machine.agent_lost(agent_id, _now()))

    # -- time-driven checks -------------------------------------------------------------------

    async def _monitor_loop(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self._lost_after / 8))
            self.check_timers()

    def check_timers(self) -> None:
        """Declare silent agents lost, and time out tasks nobody could take."""
        now = _now()
        for session in self._fleet:
            if now.mono - session.last_seen > self._lost_after:
                log.warning(
                    "agent %s lost (silent for %.1fs)", session.name, now.mono - session.last_seen
                )
                session.close("lost")
                self._fleet.remove(session)
                self.on_agent_lost(session.agent_id)
        present = {s.agent_id for s in self._fleet}
        commands = self._machine.tick(now, present=present, views=self._fleet.views())
        if commands:
            self._carry_out(commands)


def _resolve_pin(pin: str, members: Mapping[str, AgentRecord]) -> str:
    """Ids win over names (names are unique among members). Raises NotFoundError."""
    agent = members.get(pin)
    if agent is None:
        agent = next((a for a in members.values() if a.name == pin and not a.removed), None)
    if agent is None:
        raise NotFoundError(f"no agent {pin!r} has joined this mesh (photonctl agents list)")
    if agent.removed:
        raise NotFoundError(f"agent {pin!r} was removed from this mesh")
    return agent.id


def _log_fatal(error: BaseException) -> None:
    """Without a hub to stop, a failed commit still must not pass silently."""
    log.critical("task engine: a commit failed and no one stops the hub: %s", error)
