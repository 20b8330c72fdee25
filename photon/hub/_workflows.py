"""The workflow engine: runs each workflow's DAG of steps as tasks of the task engine.

Steps start when their `needs` have ended and their condition holds; their tasks carry an
idempotency key per step instance, so a hub that dies between creating a step's tasks and
recording them creates the same tasks again, not new ones.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .._ids import new_ulid
from ..errors import ConflictError, InvalidArgumentError, PhotonError
from ..model import StepState, TaskState, WorkflowState
from ._engine import TaskEngine, WatchItem
from ._expressions import substitute
from ._store import StepRecord, Store, TaskEventRecord, TaskRecord, TaskSpec, WorkflowRecord
from ._workflow_spec import (
    MAX_FAN_OUT,
    Condition,
    StepSpec,
    WorkflowSpec,
    check_tools,
    expand_matrix,
    parse_workflow,
    resolve_inputs,
)

log = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class Run:
    """One unfinished workflow in memory."""

    record: WorkflowRecord
    spec: WorkflowSpec
    steps: dict[str, StepRecord]
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    resumed: bool = False  # taken over from an earlier hub: its step tasks may exist already
    writes: set[asyncio.Future[None]] = field(default_factory=set)  # not yet committed


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """A workflow and its steps as they are now, with each step's tasks."""

    record: WorkflowRecord
    steps: list[StepRecord]
    tasks: Mapping[str, TaskRecord]
    last_events: Mapping[str, TaskEventRecord]
    spec: WorkflowSpec | None
    waiting: Mapping[str, str] = field(default_factory=dict)  # task id -> why it is queued


class WorkflowEngine:
    def __init__(self, *, store: Store, tasks: TaskEngine) -> None:
        self._store = store
        self._tasks = tasks
        self._runs: dict[str, Run] = {}
        self._owner: dict[str, str] = {}  # task id -> workflow id
        self._last_event: dict[str, TaskEventRecord] = {}
        self._watchers: dict[str, set[asyncio.Queue[None]]] = {}
        self._inflight: set[asyncio.Future[None]] = set()
        self._stopping = asyncio.Event()
        tasks.observe(self._on_task_item)

    # -- lifecycle ----------------------------------------------------------------------------

    async def load(self) -> None:
        """Take over the workflows a previous hub left running."""
        for record in await self._store.list_unfinished_workflows():
            _, steps = await self._store.get_workflow(record.id)
            run = Run(
                record=record,
                spec=parse_workflow(record.document),
                steps={s.step_id: s for s in steps},
                resumed=True,
            )
            for step in steps:
                for task_id in step.task_ids:
                    run.tasks[task_id] = (await self._tasks.get(task_id))[0]
                    self._owner[task_id] = record.id
            self._runs[record.id] = run
        for workflow_id in list(self._runs):
            await self._advance(workflow_id)
        log.info("workflow engine resumed %d workflow(s)", len(self._runs))

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                async with asyncio.timeout(1.0):
                    await self._stopping.wait()
            except TimeoutError:
                await self._check_timeouts()

    def stop(self) -> None:
        self._stopping.set()

    async def flush(self) -> None:
        while self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)

    # -- API ----------------------------------------------------------------------------------

    async def submit(self, document: Mapping[str, Any], inputs: Mapping[str, Any]) -> Snapshot:
        """Validate and start a workflow. Raises InvalidArgumentError naming step and field."""
        spec = check_tools(parse_workflow(document), self._tasks.tools())
        values = resolve_inputs(spec, inputs)
        record = WorkflowRecord(
            id=new_ulid(),
            name=spec.name,
            document=dict(document),
            inputs=values,
            state=WorkflowState.RUNNING,
            created_at=time.time(),
        )
        steps = [StepRecord(workflow_id=record.id, step_id=s.id) for s in spec.steps]
        await self._store.insert_workflow(record, steps)
        run = Run(record=record, spec=spec, steps={s.step_id: s for s in steps})
        self._runs[record.id] = run
        await self._advance(record.id)
        await self._committed(run)
        return await self.get(record.id)

    async def get(self, workflow_id: str) -> Snapshot:
        """Raises NotFoundError."""
        run = self._runs.get(workflow_id)
        if run is not None:
            steps = [run.steps[s.id] for s in run.spec.steps]
            waiting = {
                task_id: reason
                for task_id, task in run.tasks.items()
                if (reason := self._tasks.waiting_reason(task))
            }
            return Snapshot(
                record=run.record,
                steps=steps,
                tasks=dict(run.tasks),
                last_events=self._last_event,
                spec=run.spec,
                waiting=waiting,
            )
        record, steps = await self._store.get_workflow(workflow_id)
        tasks = {}
        for step in steps:
            for task_id in step.task_ids:
                tasks[task_id] = (await self._tasks.get(task_id))[0]
        return Snapshot(
            record=record,
            steps=steps,
            tasks=tasks,
            last_events={},
            spec=parse_workflow(record.document),
        )

    async def list_workflows(self, *, limit: int = 100) -> list[WorkflowRecord]:
        return await self._store.list_workflows(limit=limit)

    async def cancel(
        self, workflow_id: str, *, state: WorkflowState = WorkflowState.CANCELLED, why: str = ""
    ) -> Snapshot:
        """Cancel running steps, skip the rest. Raises NotFoundError, ConflictError (ended)."""
        run = self._runs.get(workflow_id)
        if run is None:
            record, _ = await self._store.get_workflow(workflow_id)
            raise ConflictError(f"workflow {workflow_id} has already ended ({record.state})")
        async with run.lock:
            for step_id, step in run.steps.items():
                if step.state is StepState.RUNNING:
                    for task_id in step.task_ids:
                        if not run.tasks[task_id].state.terminal:
                            try:
                                run.tasks[task_id] = await self._tasks.cancel(task_id)
                            except ConflictError:
                                pass  # it ended meanwhile
                    self._set_step(run, step_id, state=StepState.CANCELLED, message=why)
                elif step.state is StepState.WAITING:
                    self._set_step(
                        run, step_id, state=StepState.SKIPPED, message=why or "workflow cancelled"
                    )
            self._finish(run, state, why or "cancelled by a user")
        await self._committed(run)
        return await self.get(workflow_id)

    def subscribe(self, workflow_id: str) -> asyncio.Queue[None]:
        queue: asyncio.Queue[None] = asyncio.Queue(maxsize=1)
        self._watchers.setdefault(workflow_id, set()).add(queue)
        return queue

    def unsubscribe(self, workflow_id: str, queue: asyncio.Queue[None]) -> None:
        self._watchers.get(workflow_id, set()).discard(queue)

    def _changed(self, workflow_id: str) -> None:
        for queue in self._watchers.get(workflow_id, ()):
            if queue.empty():
                queue.put_nowait(None)

    # -- driving the DAG ----------------------------------------------------------------------

    def _on_task_item(self, item: WatchItem) -> None:
        workflow_id = self._owner.get(
            item.task_id if isinstance(item, TaskEventRecord) else item.id
        )
        if workflow_id is None:
            return
        if isinstance(item, TaskEventRecord):
            self._last_event[item.task_id] = item
        else:
            run = self._runs.get(workflow_id)
            if run is not None:
                run.tasks[item.id] = item
                if item.state.terminal:
                    self._last_event.pop(item.id, None)
                    future = asyncio.ensure_future(self._advance(workflow_id))
                    self._inflight.add(future)
                    future.add_done_callback(self._settled)
        self._changed(workflow_id)

    def _settled(self, future: asyncio.Future[None]) -> None:
        self._inflight.discard(future)
        if not future.cancelled() and (error := future.exception()) is not None:
            log.error("workflow step could not advance: %s", error, exc_info=error)

    async def _advance(self, workflow_id: str) -> None:
        run = self._runs.get(workflow_id)
        if run is None:
            return
        async with run.lock:
            if run.record.state.terminal:
                return
            # Repeat until nothing moves: a step can end as soon as it starts (its tasks ended
            # before a hub restart, or it fans out over nothing), unblocking its dependents.
            before = None
            while before != (after := [s.state for s in run.steps.values()]):
                before = after
                for step_id in run.spec.order:
                    step = run.steps[step_id]
                    if step.state is StepState.RUNNING:
                        self._maybe_finish_step(run, step)
                    elif step.state is StepState.WAITING:
                        await self._maybe_start_step(run, run.spec.step(step_id))
            if all(s.state.terminal for s in run.steps.values()):
                failed = [s for s in run.steps.values() if s.state is StepState.FAILED]
                if failed:
                    first = failed[0]
                    self._finish(
                        run, WorkflowState.FAILED, f"step {first.step_id} failed: {first.message}"
                    )
                else:
                    self._finish(run, WorkflowState.SUCCEEDED, "")

    def _maybe_finish_step(self, run: Run, step: StepRecord) -> None:
        tasks = [run.tasks[t] for t in step.task_ids]
        if not all(t.state.terminal for t in tasks):
            return
        failed = [t for t in tasks if t.state is not TaskState.SUCCEEDED]
        outputs: Any = [dict(t.outputs or {}) for t in tasks]
        if not run.spec.step(step.step_id).fans_out:
            outputs = outputs[0]
        if failed:
            why = failed[0].failure.message if failed[0].failure else failed[0].state.value
            self._set_step(
                run,
                step.step_id,
                state=StepState.FAILED,
                outputs=outputs,
                message=f"task {failed[0].id} {failed[0].state.value.lower()}: {why}",
            )
        else:
            self._set_step(run, step.step_id, state=StepState.SUCCEEDED, outputs=outputs)

    def _runnable(self, run: Run, spec: StepSpec) -> bool | None:
        """True to start, False to skip, None to keep waiting."""
        needs = [run.steps[n] for n in spec.needs]
        if not all(n.state.terminal for n in needs):
            return None
        ok = all(n.state is StepState.SUCCEEDED for n in needs)
        if spec.condition is Condition.ALWAYS:
            return True
        if spec.condition is Condition.FAILURE:
            return not ok
        return ok

    async def _maybe_start_step(self, run: Run, spec: StepSpec) -> None:
        runnable = self._runnable(run, spec)
        if runnable is None:
            return
        if not runnable:
            self._set_step(
                run,
                spec.id,
                state=StepState.SKIPPED,
                message=f"condition {spec.condition} is false",
            )
            return
        limit = run.spec.concurrency
        running = sum(1 for s in run.steps.values() if s.state is StepState.RUNNING)
        if limit is not None and running >= limit:
            return
        try:
            specs = self._instances(run, spec)
        except InvalidArgumentError as exc:
            self._set_step(run, spec.id, state=StepState.FAILED, message=str(exc))
            return
        keyed = [
            replace(
                task_spec,
                idempotency_key=f"wf:{run.record.id}:{spec.id}:{index}",
                labels={**task_spec.labels, "workflow": run.record.id, "step": spec.id},
            )
            for index, task_spec in enumerate(specs)
        ]
        try:
            # Keys are made up here, so a run this hub started cannot have their tasks yet.
            submitted = await self._tasks.submit_many(
                keyed, refuse=False, fresh_keys=not run.resumed
            )
        except PhotonError as exc:
            self._set_step(run, spec.id, state=StepState.FAILED, message=str(exc))
            return
        task_ids = []
        for task, _ in submitted:
            run.tasks[task.id] = task
            self._owner[task.id] = run.record.id
            task_ids.append(task.id)
        self._set_step(
            run, spec.id, state=StepState.RUNNING, task_ids=tuple(task_ids), started_at=time.time()
        )

    def _instances(self, run: Run, spec: StepSpec) -> list[TaskSpec]:
        context: dict[str, Any] = {
            "inputs": dict(run.record.inputs),
            "steps": {
                sid: {"outputs": s.outputs} for sid, s in run.steps.items() if s.outputs is not None
            },
        }
        if spec.for_each is not None:
            items = substitute(spec.for_each, context)
            if not isinstance(items, list):
                raise InvalidArgumentError(f"for_each must give a list, got {type(items).__name__}")
            contexts = [{**context, "item": item} for item in items]
        elif spec.matrix is not None:
            contexts = [{**context, "matrix": combo} for combo in expand_matrix(spec.matrix)]
        else:
            contexts = [context]
        if len(contexts) > MAX_FAN_OUT:
            raise InvalidArgumentError(f"fan-out of {len(contexts)} exceeds {MAX_FAN_OUT}")
        return [replace(spec.task, inputs=substitute(dict(spec.task.inputs), c)) for c in contexts]

    def _set_step(self, run: Run, step_id: str, **changes: Any) -> None:
        step = replace(run.steps[step_id], **changes)
        if step.state.terminal and step.finished_at is None:
            step = replace(step, finished_at=time.time())
        run.steps[step_id] = step
        self._write(run, self._store.update_step(step))

    def _finish(self, run: Run, state: WorkflowState, message: str) -> None:
        run.record = replace(run.record, state=state, finished_at=time.time(), message=message)
        self._write(run, self._store.update_workflow(run.record))
        del self._runs[run.record.id]
        for task_id in run.tasks:
            self._owner.pop(task_id, None)
        log.info("workflow %s %s", run.record.id, state.value.lower())

    def _write(self, run: Run, write: Coroutine[Any, Any, None]) -> None:
        """Persist a change of the run without waiting: the next step's tasks can go in the
        same commit. Writes reach the store in order; watchers hear of each once committed,
        and a hub that dies first redoes the step from its tasks' states (their keys make
        that safe)."""

        async def committed() -> None:
            await write
            self._changed(run.record.id)

        future = asyncio.ensure_future(committed())
        run.writes.add(future)
        future.add_done_callback(run.writes.discard)
        self._inflight.add(future)
        future.add_done_callback(self._settled)

    async def _committed(self, run: Run) -> None:
        """Wait until what the run changed so far is committed."""
        if run.writes:
            await asyncio.gather(*run.writes)

    async def _check_timeouts(self) -> None:
        now = time.time()
        for run in list(self._runs.values()):
            timeout = run.spec.timeout
            if timeout is not None and now - run.record.created_at > timeout:
                await self.cancel(
                    run.record.id,
                    state=WorkflowState.TIMED_OUT,
                    why=f"workflow timed out after {timeout:g}s",
                )
