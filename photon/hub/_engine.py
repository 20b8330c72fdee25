"""The task engine: submissions, dispatch, attempt fencing, results and agent loss."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import replace

from .._ids import new_ulid
from ..errors import ConflictError
from ..model import FailureClass, TaskState
from ..v1 import common_pb2, mesh_pb2
from . import _convert
from ._fleet import AgentSession, Fleet
from ._scheduler import Placement, Waiting, place, refusal
from ._selector import parse_selector
from ._store import Failure, Store, TaskEventRecord, TaskRecord, TaskSpec

log = logging.getLogger(__name__)

WatchItem = TaskRecord | TaskEventRecord
_BOUND = frozenset({TaskState.ASSIGNED, TaskState.RUNNING})


class TaskEngine:
    """Owns every unfinished task in memory; each transition is committed before it is told.

    The dispatch loop places queued tasks with the pure scheduler whenever something changed.
    """

    def __init__(
        self,
        *,
        store: Store,
        fleet: Fleet,
        lost_after: float,
        failover_grace: float,
    ) -> None:
        self._store = store
        self._fleet = fleet
        self._lost_after = lost_after
        self._grace_until = time.monotonic() + failover_grace
        self._awaited: set[str] = set()  # agents known before this start, not back yet
        self._tasks: dict[str, TaskRecord] = {}
        self._queue: dict[str, int] = {}  # task id -> arrival number (FIFO within a priority)
        self._arrivals = itertools.count()
        self._event_seq: dict[str, int] = {}
        self._watchers: dict[str, set[asyncio.Queue[WatchItem]]] = {}
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    # -- lifecycle ----------------------------------------------------------------------------

    async def load(self) -> None:
        """Take over the unfinished tasks a previous hub left in the store."""
        self._awaited = {a.id for a in await self._store.list_agents() if not a.removed}
        for task in await self._store.list_unfinished_tasks():
            self._tasks[task.id] = task
            if task.state not in _BOUND:
                self._enqueue(task)
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

    # -- submissions and queries --------------------------------------------------------------

    async def submit(self, spec: TaskSpec) -> tuple[TaskRecord, bool]:
        """Commit a new task (or find its idempotent twin). Raises InvalidArgumentError,
        ConflictError when no connected agent could ever run it."""
        if spec.selector:
            parse_selector(spec.selector)
        if not self._in_failover() and (
            reason := refusal(spec, [s.view() for s in self._fleet if s.stream_open])
        ):
            raise ConflictError(reason)
        task = TaskRecord(id=new_ulid(), spec=spec, state=TaskState.QUEUED, created_at=time.time())
        stored, created = await self._store.insert_task(task)
        if created:
            self._tasks[task.id] = task
            self._enqueue(task)
        return stored, created

    async def get(self, task_id: str) -> tuple[TaskRecord, str]:
        """The task and, when queued, why it is waiting. Raises NotFoundError."""
        task = self._tasks.get(task_id) or await self._store.get_task(task_id)
        return task, self.waiting_reason(task)

    def _in_failover(self) -> bool:
        """Just restarted and some known agents have not reconnected: judge nothing yet."""
        return bool(self._awaited) and time.monotonic() < self._grace_until

    def waiting_reason(self, task: TaskRecord) -> str:
        if task.state is not TaskState.QUEUED:
            return ""
        decision = place(task.spec, self._fleet.views())
        return decision.reason if isinstance(decision, Waiting) else ""

    def subscribe(self, task_id: str) -> asyncio.Queue[WatchItem]:
        queue: asyncio.Queue[WatchItem] = asyncio.Queue()
        self._watchers.setdefault(task_id, set()).add(queue)
        return queue

    def unsubscribe(self, task_id: str, queue: asyncio.Queue[WatchItem]) -> None:
        watchers = self._watchers.get(task_id)
        if watchers is not None:
            watchers.discard(queue)
            if not watchers:
                del self._watchers[task_id]

    def _publish(self, task_id: str, item: WatchItem) -> None:
        for queue in self._watchers.get(task_id, ()):
            queue.put_nowait(item)

    # -- dispatch -----------------------------------------------------------------------------

    def _enqueue(self, task: TaskRecord) -> None:
        self._queue[task.id] = next(self._arrivals)
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def _dispatch_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._dispatch_once()

    async def _dispatch_once(self) -> None:
        views = {v.id: v for v in self._fleet.views()}
        order = sorted(self._queue, key=lambda i: (-self._tasks[i].spec.priority, self._queue[i]))
        assigned: list[tuple[TaskRecord, AgentSession]] = []
        for rotation, task_id in enumerate(order):
            if not any(v.accepting and v.free_slots > 0 for v in views.values()):
                break
            task = self._tasks[task_id]
            candidates = list(views.values())
            # Rotate so that equally loaded agents take turns.
            shift = rotation % max(len(candidates), 1)
            decision = place(task.spec, candidates[shift:] + candidates[:shift])
            if not isinstance(decision, Placement):
                continue
            session = self._fleet.get(decision.agent_id)
            if session is None:
                continue
            task = replace(
                task,
                state=TaskState.ASSIGNED,
                attempt=task.attempt + 1,
                epoch=task.epoch + 1,
                agent_id=session.agent_id,
                started_at=None,
            )
            self._tasks[task_id] = task
            del self._queue[task_id]
            session.running.add(task_id)
            view = views[session.agent_id]
            views[session.agent_id] = replace(view, running=view.running + 1)
            assigned.append((task, session))
        if not assigned:
            return
        await asyncio.gather(*(self._store.update_task(t) for t, _ in assigned))
        for task, session in assigned:
            session.send(
                mesh_pb2.ConnectResponse(
                    assign=mesh_pb2.Assign(
                        spec=_convert.spec_to_proto(task.id, task.spec), attempt=_ref(task)
                    )
                )
            )
            self._publish(task.id, task)

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

    async def on_accepted(self, agent_id: str, ref: mesh_pb2.AttemptRef) -> None:
        task = self._current(agent_id, ref)
        if task is None or task.state is TaskState.RUNNING:
            return
        task = replace(task, state=TaskState.RUNNING, started_at=time.time())
        self._tasks[task.id] = task
        await self._store.update_task(task)
        self._publish(task.id, task)

    async def on_progress(
        self, agent_id: str, ref: mesh_pb2.AttemptRef, events: Sequence[common_pb2.TaskEvent]
    ) -> None:
        if self._current(agent_id, ref) is None or not events:
            return
        seq = self._event_seq.get(ref.task_id)
        if seq is None:
            existing = await self._store.list_task_events(ref.task_id)
            seq = existing[-1].seq if existing else 0
        records = []
        for event in events:
            seq += 1
            records.append(
                TaskEventRecord(
                    task_id=ref.task_id,
                    seq=seq,
                    attempt=ref.attempt,
                    kind=event.kind or "log",
                    message=event.message,
                    data=_convert.event_data(event),
                    time=event.time or time.time(),
                )
            )
        self._event_seq[ref.task_id] = seq
        await self._store.append_task_events(records)
        for record in records:
            self._publish(ref.task_id, record)

    async def on_result(self, agent_id: str, result: mesh_pb2.TaskResult) -> None:
        """Record the outcome if this is still the current attempt; stale results are dropped."""
        ref = result.attempt
        task = self._current(agent_id, ref)
        if task is None:
            log.info(
                "dropping stale result for task %s attempt %d epoch %d from agent %s",
                ref.task_id,
                ref.attempt,
                ref.epoch,
                agent_id,
            )
            return
        if result.ok:
            try:
                outputs = json.loads(result.outputs_json) if result.outputs_json else {}
            except ValueError:
                outputs = {"raw": result.outputs_json}
            task = replace(task, state=TaskState.SUCCEEDED, outputs=outputs, failure=None)
        else:
            failure = _convert.failure_from_proto(result.failure)
            if failure.failure_class is FailureClass.AGENT_LOST:
                await self._retry_or_fail(task, failure)
                return
            state = {
                FailureClass.CANCELLED: TaskState.CANCELLED,
                FailureClass.TIMEOUT: TaskState.TIMED_OUT,
            }.get(failure.failure_class, TaskState.FAILED)
            task = replace(task, state=state, failure=failure)
        await self._finish(task, started_at=result.started_at or task.started_at)

    async def _finish(self, task: TaskRecord, *, started_at: float | None = None) -> None:
        task = replace(task, started_at=started_at or task.started_at, finished_at=time.time())
        self._tasks.pop(task.id, None)
        self._queue.pop(task.id, None)
        self._event_seq.pop(task.id, None)
        session = self._fleet.get(task.agent_id)
        if session is not None:
            session.running.discard(task.id)
        await self._store.update_task(task)
        self._publish(task.id, task)
        self._wake.set()

    # -- agents coming and going --------------------------------------------------------------

    async def on_agent_connected(self, session: AgentSession, hello: mesh_pb2.Hello) -> None:
        """Reconcile what the agent says it runs with what the hub assigned to it."""
        self._awaited.discard(session.agent_id)
        reported = {r.task_id: r for r in (*hello.running, *hello.held_results)}
        requeue = []
        for task in list(self._tasks.values()):
            if task.agent_id != session.agent_id or task.state not in _BOUND:
                continue
            ref = reported.get(task.id)
            if ref is not None and ref.attempt == task.attempt and ref.epoch == task.epoch:
                session.running.add(task.id)
            else:
                requeue.append(task)
        for ref in hello.running:
            if self._current(session.agent_id, ref) is None:
                session.send(
                    mesh_pb2.ConnectResponse(
                        cancel=mesh_pb2.Cancel(attempt=ref, reason="attempt is no longer current")
                    )
                )
        for task in requeue:
            await self._retry_or_fail(
                task, Failure(failure_class=FailureClass.AGENT_LOST, message="agent lost the task")
            )
        self._wake.set()

    async def on_agent_lost(self, agent_id: str) -> None:
        for task in list(self._tasks.values()):
            if task.agent_id == agent_id and task.state in _BOUND:
                await self._retry_or_fail(
                    task,
                    Failure(
                        failure_class=FailureClass.AGENT_LOST,
                        message=f"agent {agent_id} was lost",
                    ),
                )

    async def _retry_or_fail(self, task: TaskRecord, failure: Failure) -> None:
        session = self._fleet.get(task.agent_id)
        if session is not None:
            session.running.discard(task.id)
        if task.attempt >= task.spec.retry.max_attempts:
            await self._finish(replace(task, state=TaskState.FAILED, failure=failure))
            return
        # A new epoch fences off any late result of the attempt that was lost.
        task = replace(task, state=TaskState.QUEUED, epoch=task.epoch + 1, failure=failure)
        self._tasks[task.id] = task
        await self._store.update_task(task)
        self._enqueue(task)
        self._publish(task.id, task)

    # -- time-driven checks -------------------------------------------------------------------

    async def _monitor_loop(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self._lost_after / 8))
            await self.check_timers()

    async def check_timers(self) -> None:
        """Declare silent agents lost and time out tasks nobody could take."""
        now = time.monotonic()
        for session in self._fleet:
            if now - session.last_seen > self._lost_after:
                log.warning(
                    "agent %s lost (no heartbeat for %.0fs)", session.name, self._lost_after
                )
                session.close("lost")
                self._fleet.remove(session)
                await self.on_agent_lost(session.agent_id)
        if now > self._grace_until:
            orphaned = {
                t.agent_id
                for t in self._tasks.values()
                if t.state in _BOUND and self._fleet.get(t.agent_id) is None
            }
            for agent_id in orphaned:
                await self.on_agent_lost(agent_id)
        wall = time.time()
        for task_id in list(self._queue):
            task = self._tasks[task_id]
            if wall - task.created_at > task.spec.queue_timeout:
                reason = self.waiting_reason(task) or "no capacity"
                await self._finish(
                    replace(
                        task,
                        state=TaskState.TIMED_OUT,
                        failure=Failure(
                            failure_class=FailureClass.TIMEOUT,
                            message=f"not started within {task.spec.queue_timeout:g}s: {reason}",
                        ),
                    )
                )


def _ref(task: TaskRecord) -> mesh_pb2.AttemptRef:
    return mesh_pb2.AttemptRef(task_id=task.id, attempt=task.attempt, epoch=task.epoch)
