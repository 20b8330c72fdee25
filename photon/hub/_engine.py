"""The task engine: submissions, dispatch, attempt fencing, results, retries, cancellation.

Every transition is applied in memory at once and persisted with its state event; no client is
told of a transition before its commit (watchers get each state after it). Agents are told at
once: dispatch overlaps the commits (SPEC §6), and attempt fencing keeps late or duplicate
results out. Writes for one task reach the store in the order the transitions happened.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

from .._ids import new_ulid
from ..errors import ConflictError, InvalidArgumentError, NotFoundError
from ..model import FailureClass, TaskState
from ..v1 import common_pb2, mesh_pb2
from . import _convert
from ._fleet import AgentSession, Fleet
from ._retry import AGENT_SPECIFIC, retry_delay
from ._scheduler import Scheduler, ToolLimit, Waiting, place, refusal
from ._selector import parse_selector
from ._store import Failure, Store, TaskEventRecord, TaskRecord, TaskSpec
from ._validation import check_spec

log = logging.getLogger(__name__)

WatchItem = TaskRecord | TaskEventRecord
_BOUND = frozenset({TaskState.ASSIGNED, TaskState.RUNNING})
_QUEUED = frozenset({TaskState.QUEUED, TaskState.RETRY_WAIT})
_END_STATE = {
    FailureClass.CANCELLED: TaskState.CANCELLED,
    FailureClass.TIMEOUT: TaskState.TIMED_OUT,
}


class TaskEngine:
    """Owns every unfinished task in memory and drives it through its states."""

    def __init__(
        self,
        *,
        store: Store,
        fleet: Fleet,
        lost_after: float,
        failover_grace: float,
        limits: Mapping[str, ToolLimit] | None = None,
    ) -> None:
        self._store = store
        self._fleet = fleet
        self._lost_after = lost_after
        self._grace_until = time.monotonic() + failover_grace
        self._awaited: set[str] = set()  # agents known before this start, not back yet
        self._scheduler = Scheduler(limits=limits)
        self._tasks: dict[str, TaskRecord] = {}
        self._seq: dict[str, int] = {}  # the last event seq given out, per task in memory
        self._published: dict[str, int] = {}  # the last one committed and published
        # Cancelled attempts whose agent has not confirmed the end yet: they keep their slot and
        # locks so that nothing else starts under a lock while the old process is still dying.
        self._ending: dict[str, str] = {}
        self._watchers: dict[str, set[asyncio.Queue[WatchItem]]] = {}
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._inflight: set[asyncio.Future[None]] = set()
        self._observers: list[Callable[[WatchItem], None]] = []
        self._followers: list[Callable[[TaskRecord], None]] = []

    # -- lifecycle ----------------------------------------------------------------------------

    async def load(self) -> None:
        """Take over the unfinished tasks and agents a previous hub left in the store."""
        self._awaited = {a.id for a in await self._store.list_agents() if not a.removed}
        self._seq = await self._store.last_event_seqs()
        self._published = dict(self._seq)
        queued = []
        for task in await self._store.list_unfinished_tasks():
            if task.state not in _BOUND:
                # The previous hub may have dispatched it without recording that (dispatch
                # overlaps the commit): move past any epoch it may have used, durably, so no
                # new attempt is mistaken for that one.
                task = replace(task, epoch=task.epoch + 1)
                queued.append(task)
            self._tasks[task.id] = task
            if task.state in _BOUND:
                self._scheduler.hold(task.id, task.spec)
            else:
                self._scheduler.enqueue(task.id, task.spec)
        await asyncio.gather(*(self._store.update_task(task) for task in queued))
        log.info("engine loaded %d unfinished task(s)", len(self._tasks))

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
        """Wait for every transition already applied to be committed (before the store closes)."""
        while self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)

    def _track(self, future: asyncio.Future[None]) -> asyncio.Future[None]:
        self._inflight.add(future)
        future.add_done_callback(self._settled)
        return future

    def _settled(self, future: asyncio.Future[None]) -> None:
        self._inflight.discard(future)
        if not future.cancelled() and (error := future.exception()) is not None:
            log.error("could not commit a task transition: %s", error, exc_info=error)

    # -- submissions, queries, cancellation ---------------------------------------------------

    async def submit(self, spec: TaskSpec, *, refuse: bool = True) -> tuple[TaskRecord, bool]:
        [result] = await self.submit_many([spec], refuse=refuse)
        return result

    async def submit_many(
        self, specs: Sequence[TaskSpec], *, refuse: bool = True, fresh_keys: bool = False
    ) -> list[tuple[TaskRecord, bool]]:
        """Commit new tasks in one store write; for each, the task and True, or its idempotent
        twin and False. Raises InvalidArgumentError, or ConflictError when no connected agent
        could ever run one (unless `refuse` is False: then it waits, with the reason, like any
        task that cannot be placed yet); either way nothing is submitted.

        A task without an idempotency key is queued at once, so its dispatch overlaps the
        commit (SPEC §6 allows it); a keyed one only once the store has ruled out a twin, unless
        the caller knows its keys were never used (`fresh_keys`: it made them up itself).
        """
        checked = []
        for index, spec in enumerate(specs):
            try:
                checked.append(self._check(spec, refuse=refuse))
            except (InvalidArgumentError, ConflictError) as exc:
                raise exc if len(specs) == 1 else type(exc)(f"spec {index}: {exc}") from None
        now = time.time()
        tasks = [
            TaskRecord(id=new_ulid(), spec=spec, state=TaskState.QUEUED, created_at=now)
            for spec in checked
        ]
        early = {task.id for task in tasks if fresh_keys or not task.spec.idempotency_key}
        for task in tasks:
            if task.id in early:
                self._admit(task)
        try:
            results = await self._store.insert_tasks(tasks)
        except BaseException:
            for task_id in early:
                self._abandon(task_id, "its submission could not be recorded")
            raise
        for task, (_, created) in zip(tasks, results, strict=True):
            if task.id not in early and created:
                self._admit(task)
            elif task.id in early and not created:  # the caller's keys were not fresh after all
                self._abandon(task.id, "it has an idempotent twin")
        return results

    def _check(self, spec: TaskSpec, *, refuse: bool) -> TaskSpec:
        if spec.selector:
            parse_selector(spec.selector)
        spec = check_spec(spec, (t for s in self._fleet for t in s.tools))
        if (
            refuse
            and not self._in_failover()
            and (reason := refusal(spec, [s.view() for s in self._fleet if s.stream_open]))
        ):
            raise ConflictError(reason)
        return spec

    def _admit(self, task: TaskRecord) -> None:
        self._tasks[task.id] = task
        self._seq[task.id] = 0
        self._published[task.id] = 0
        self._scheduler.enqueue(task.id, task.spec)
        self._wake.set()

    def _abandon(self, task_id: str, reason: str) -> None:
        """Forget a task nobody was told about (its submission failed to commit)."""
        task = self._tasks.pop(task_id, None)
        self._seq.pop(task_id, None)
        self._published.pop(task_id, None)
        if task is not None:
            self._withdraw(task, reason)

    def _withdraw(self, task: TaskRecord, reason: str) -> None:
        """Take a task out of the queue, or stop its attempt on the agent running it."""
        if task.state not in _BOUND:
            self._scheduler.dequeue(task.id)
            return
        session = self._fleet.get(task.agent_id)
        if session is not None and task.id in session.running:
            session.send(_cancel_message(task, reason))
            # The slot and locks stay held until the agent confirms the end.
            self._ending[task.id] = task.agent_id
        else:
            self._scheduler.release(task.id)

    def tools(self) -> list[common_pb2.ToolCapability]:
        """What the connected agents offer."""
        return [t for s in self._fleet if s.stream_open for t in s.tools]

    async def get(self, task_id: str) -> tuple[TaskRecord, str]:
        """The task and, when queued, why it is waiting. Raises NotFoundError."""
        task = self._tasks.get(task_id) or await self._store.get_task(task_id)
        return task, self.waiting_reason(task)

    async def get_many(self, task_ids: Collection[str]) -> dict[str, TaskRecord]:
        """The tasks by id, as `get` gives them. Raises NotFoundError for an unknown id."""
        found = {i: self._tasks[i] for i in task_ids if i in self._tasks}
        for task in await self._store.get_tasks([i for i in task_ids if i not in found]):
            found[task.id] = task
        if unknown := set(task_ids) - found.keys():
            raise NotFoundError(f"task {min(unknown)} not found")
        return found

    async def ended_of(self, task_ids: Collection[str]) -> list[TaskRecord]:
        """Those of the tasks whose end is committed. Raises NotFoundError for an unknown id."""
        tasks = await self.get_many(task_ids)
        return [task for task in tasks.values() if task.state.terminal]

    def waiting_reason(self, task: TaskRecord) -> str:
        if task.state not in _QUEUED:
            return ""
        if reason := self._scheduler.reason(task.id):
            return reason
        decision = place(task.spec, self._fleet.views())
        return decision.reason if isinstance(decision, Waiting) else ""

    async def cancel(self, task_id: str) -> TaskRecord:
        """Cancel a task: queued ones end at once; running ones are killed on their agent.

        Raises NotFoundError, or ConflictError when the task has already ended.
        """
        task = self._tasks.get(task_id)
        if task is None:
            ended = await self._store.get_task(task_id)
            raise ConflictError(f"task {task_id} has already ended ({ended.state})")
        failure = Failure(failure_class=FailureClass.CANCELLED, message="cancelled by a user")
        self._withdraw(task, "cancelled by a user")
        task = replace(
            task,
            state=TaskState.CANCELLED,
            failure=failure,
            epoch=task.epoch + 1,
            finished_at=time.time(),
        )
        await self._transition(task, "cancelled by a user")
        return task

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
        return self._published.get(task_id) if task_id in self._tasks else None

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

    # -- transitions --------------------------------------------------------------------------

    def _event(
        self, task: TaskRecord, kind: str, message: str, data: Mapping[str, Any]
    ) -> TaskEventRecord:
        seq = self._seq.get(task.id, 0) + 1
        self._seq[task.id] = seq
        return TaskEventRecord(
            task_id=task.id,
            seq=seq,
            attempt=task.attempt,
            kind=kind,
            message=message,
            data=data,
            time=time.time(),
        )

    def _transition(self, task: TaskRecord, note: str) -> asyncio.Future[None]:
        """Apply a new task state now; the returned future resolves once it is committed and
        watchers have been told."""
        event = self._event(task, "state", note, {"state": task.state.value})
        if task.state.terminal:
            self._tasks.pop(task.id, None)
            self._seq.pop(task.id, None)
        else:
            self._tasks[task.id] = task
        for follower in self._followers:
            follower(task)
        # Started now, so this task's writes are queued in the order its transitions happened.
        return self._track(asyncio.ensure_future(self._persist(task, event)))

    async def _persist(self, task: TaskRecord, event: TaskEventRecord) -> None:
        await self._store.update_task(task, events=[event])
        self._publish(task.id, event)
        self._publish(task.id, task)

    # -- dispatch -----------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def _dispatch_loop(self) -> None:
        while True:
            now = time.monotonic()
            self._wake.clear()
            self._dispatch_once(now)
            # Measured from the same `now` as the pass above, so a backed-off task that became
            # ready during the pass is not forgotten.
            next_ready = self._scheduler.next_ready(now)
            timeout = None if next_ready is None else max(next_ready - time.monotonic(), 0.0)
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def _dispatch_once(self, now: float) -> None:
        # Assign goes out at once; the ASSIGNED commit follows (no client waits on it). A hub that
        # dies before that commit finds the task queued again, under a new epoch (see `load`).
        if not self._scheduler:
            return  # nothing queued: no need to look at every agent
        for assignment in self._scheduler.schedule(self._fleet.views(), now):
            session = self._fleet.get(assignment.agent_id)
            assert session is not None, "the scheduler only sees sessions of the fleet"
            queued = self._tasks[assignment.task_id]
            task = replace(
                queued,
                state=TaskState.ASSIGNED,
                attempt=queued.attempt + 1,
                epoch=queued.epoch + 1,
                agent_id=session.agent_id,
                started_at=None,
                failure=None,
            )
            session.hold(task.id)
            self._transition(task, f"assigned to {session.name} (attempt {task.attempt})")
            session.send(
                mesh_pb2.ConnectResponse(
                    assign=mesh_pb2.Assign(
                        spec=_convert.spec_to_proto(task.id, task.spec), attempt=_ref(task)
                    )
                )
            )

    # -- messages from agents -----------------------------------------------------------------

    def _current(self, agent_id: str, ref: mesh_pb2.AttemptRef) -> TaskRecord | None:
        task = self._tasks.get(ref.task_id)
        if (
            task is None
            or task.state not in _BOUND
            or task.agent_id != agent_id
            or task.attempt != ref.attempt
            or task.epoch != ref.epoch
        ):
            return None
        return task

    # Agent messages are handled without waiting for their commits, so one agent's stream keeps
    # flowing while the store batches; what must follow a commit waits on the returned future.

    def on_accepted(self, agent_id: str, ref: mesh_pb2.AttemptRef) -> None:
        task = self._current(agent_id, ref)
        if task is None or task.state is TaskState.RUNNING:
            return
        task = replace(task, state=TaskState.RUNNING, started_at=time.time())
        self._transition(task, "running")

    def on_progress(
        self, agent_id: str, ref: mesh_pb2.AttemptRef, events: Sequence[common_pb2.TaskEvent]
    ) -> None:
        task = self._current(agent_id, ref)
        if task is None or not events:
            return
        records = [
            self._event(task, event.kind or "log", event.message, _convert.event_data(event))
            for event in events
        ]
        self._track(asyncio.ensure_future(self._append(task.id, records)))

    async def _append(self, task_id: str, records: Sequence[TaskEventRecord]) -> None:
        await self._store.append_task_events(records)
        for record in records:
            self._publish(task_id, record)

    def on_result(self, agent_id: str, result: mesh_pb2.TaskResult) -> asyncio.Future[None] | None:
        """Record the outcome if this is still the current attempt; stale results are dropped.

        Returns the commit to wait for before acking the result, or None for a stale result.
        """
        ref = result.attempt
        self._attempt_ended(agent_id, ref.task_id)
        task = self._current(agent_id, ref)
        if task is None:
            log.info(
                "dropping stale result for task %s attempt %d epoch %d from agent %s",
                ref.task_id,
                ref.attempt,
                ref.epoch,
                agent_id,
            )
            return None
        started = result.started_at or task.started_at
        if result.ok:
            try:
                outputs = json.loads(result.outputs_json) if result.outputs_json else {}
            except ValueError:
                outputs = {"raw": result.outputs_json}
            done = replace(
                task,
                state=TaskState.SUCCEEDED,
                outputs=outputs,
                started_at=started,
                finished_at=time.time(),
            )
            return self._transition(done, "succeeded")
        failure = _convert.failure_from_proto(result.failure)
        return self._retry_or_fail(replace(task, started_at=started), failure)

    def _attempt_ended(self, agent_id: str, task_id: str) -> None:
        """An agent is done with an attempt (result, stale or not): free its slot and locks."""
        session = self._fleet.get(agent_id)
        if session is not None:
            session.release(task_id)
        if self._ending.pop(task_id, None) is not None or task_id not in self._tasks:
            self._scheduler.release(task_id)
        elif (task := self._tasks[task_id]).agent_id == agent_id and task.state in _BOUND:
            self._scheduler.release(task_id)
        self._wake.set()

    def _retry_or_fail(self, task: TaskRecord, failure: Failure) -> asyncio.Future[None]:
        delay = retry_delay(task.spec.retry, task.attempt, failure, now=time.time())
        if delay is None:
            state = _END_STATE.get(failure.failure_class, TaskState.FAILED)
            ended = replace(task, state=state, failure=failure, finished_at=time.time())
            return self._transition(ended, f"{state.value.lower()}: {failure.message}")
        avoid = (
            frozenset({task.agent_id}) if failure.failure_class in AGENT_SPECIFIC else frozenset()
        )
        # A new epoch fences off any late result of the attempt that failed.
        waiting = replace(task, state=TaskState.RETRY_WAIT, epoch=task.epoch + 1, failure=failure)
        committed = self._transition(
            waiting,
            f"attempt {task.attempt} failed ({failure.failure_class}); retry in {delay:.1f}s",
        )
        self._scheduler.enqueue(task.id, task.spec, ready_at=time.monotonic() + delay, avoid=avoid)
        self._wake.set()
        return committed

    # -- agents coming and going --------------------------------------------------------------

    def on_agent_connected(self, session: AgentSession, hello: mesh_pb2.Hello) -> None:
        """Reconcile what the agent says it runs with what the hub assigned to it."""
        self._awaited.discard(session.agent_id)
        reported = {r.task_id: r for r in (*hello.running, *hello.held_results)}
        lost = []
        for task in list(self._tasks.values()):
            if task.agent_id != session.agent_id or task.state not in _BOUND:
                continue
            ref = reported.get(task.id)
            if ref is not None and ref.attempt == task.attempt and ref.epoch == task.epoch:
                session.hold(task.id)
            else:
                lost.append(task)
        for ref in hello.running:
            if self._current(session.agent_id, ref) is None:
                session.hold(ref.task_id)  # busy until it confirms the end
                session.send(
                    mesh_pb2.ConnectResponse(
                        cancel=mesh_pb2.Cancel(attempt=ref, reason="attempt is no longer current")
                    )
                )
        for task in lost:
            self._scheduler.release(task.id)
            self._retry_or_fail(
                task, Failure(failure_class=FailureClass.AGENT_LOST, message="agent lost the task")
            )
        self._wake.set()

    def on_agent_lost(self, agent_id: str) -> None:
        for task_id, owner in list(self._ending.items()):
            if owner == agent_id:
                del self._ending[task_id]
                self._scheduler.release(task_id)
        for task in list(self._tasks.values()):
            if task.agent_id == agent_id and task.state in _BOUND:
                self._scheduler.release(task.id)
                self._retry_or_fail(
                    task,
                    Failure(
                        failure_class=FailureClass.AGENT_LOST, message=f"agent {agent_id} was lost"
                    ),
                )

    # -- time-driven checks -------------------------------------------------------------------

    async def _monitor_loop(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self._lost_after / 8))
            await self.check_timers()

    def _in_failover(self) -> bool:
        """Just restarted and some known agents have not reconnected: judge nothing yet."""
        return bool(self._awaited) and time.monotonic() < self._grace_until

    async def check_timers(self) -> None:
        """Declare silent agents lost, and time out tasks nobody could take."""
        now = time.monotonic()
        for session in self._fleet:
            if now - session.last_seen > self._lost_after:
                log.warning(
                    "agent %s lost (silent for %.1fs)", session.name, now - session.last_seen
                )
                session.close("lost")
                self._fleet.remove(session)
                self.on_agent_lost(session.agent_id)
        if now > self._grace_until:
            orphaned = {
                t.agent_id
                for t in self._tasks.values()
                if t.state in _BOUND and self._fleet.get(t.agent_id) is None
            }
            for agent_id in orphaned:
                self.on_agent_lost(agent_id)
        wall = time.time()
        for task in list(self._tasks.values()):
            if task.state is TaskState.QUEUED and wall - task.created_at > task.spec.queue_timeout:
                reason = self.waiting_reason(task) or "no capacity"
                self._scheduler.dequeue(task.id)
                failure = Failure(
                    failure_class=FailureClass.TIMEOUT,
                    message=f"not started within {task.spec.queue_timeout:g}s: {reason}",
                )
                timed_out = replace(
                    task, state=TaskState.TIMED_OUT, failure=failure, finished_at=wall
                )
                await self._transition(timed_out, failure.message)


def _ref(task: TaskRecord) -> mesh_pb2.AttemptRef:
    return mesh_pb2.AttemptRef(task_id=task.id, attempt=task.attempt, epoch=task.epoch)


def _cancel_message(task: TaskRecord, reason: str) -> mesh_pb2.ConnectResponse:
    return mesh_pb2.ConnectResponse(cancel=mesh_pb2.Cancel(attempt=_ref(task), reason=reason))
