"""The workflow engine: runs each workflow's DAG of steps as tasks of the task engine.

Steps start when their `needs` have ended and their condition holds; their tasks carry an
idempotency key per step instance, so a hub that dies between creating a step's tasks and
recording them creates the same tasks again, not new ones.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Iterable, Iterator, Mapping
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
    tasks: dict[str, TaskRecord] = field(default_factory=dict)  # as applied: drives the DAG
    shown: dict[str, TaskRecord] = field(default_factory=dict)  # as committed: for snapshots
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    resumed: bool = False  # taken over from an earlier hub: its step tasks may exist already
    writes: set[asyncio.Future[None]] = field(default_factory=set)  # not yet committed
    step_of: dict[str, str] = field(default_factory=dict)  # task id -> step id
    open_tasks: dict[str, set[str]] = field(default_factory=dict)  # step id -> tasks not ended
    followers: dict[str, list[str]] = field(init=False)  # step id -> the steps that need it
    unfinished: int = field(init=False)  # steps not ended yet

    def __post_init__(self) -> None:
        self.unfinished = sum(not s.state.terminal for s in self.steps.values())
        for record in self.steps.values():
            for task_id in record.task_ids:
                self.step_of[task_id] = record.step_id
        self.followers = {s.id: [] for s in self.spec.steps}
        for step in self.spec.steps:
            for need in dict.fromkeys(step.needs):
                self.followers[need].append(step.id)

    def track(self, task: TaskRecord, *, committed: bool = False) -> None:
        """The latest record of one of the run's tasks (`committed`: it is in the store)."""
        self.tasks[task.id] = task
        if committed:
            self.shown[task.id] = task
        open_tasks = self.open_tasks.setdefault(self.step_of[task.id], set())
        if task.state.terminal:
            open_tasks.discard(task.id)
        else:
            open_tasks.add(task.id)


@dataclass(frozen=True, slots=True)
class Watch:
    """A watcher's news of one workflow: something changed (committed), it ended."""

    changed: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)


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
        self._watchers: dict[str, set[Watch]] = {}
        self._inflight: set[asyncio.Future[None]] = set()
        self._stopping = asyncio.Event()
        tasks.observe(self._on_task_item)
        tasks.follow(self._on_task_applied)

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
            for task in (await self._tasks.get_many(list(run.step_of))).values():
                run.track(task, committed=True)
                self._owner[task.id] = record.id
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
        started = await self.get(record.id)  # as submitted, not however far it got meanwhile
        await self._committed(run)
        return started

    async def get(self, workflow_id: str) -> Snapshot:
        """Raises NotFoundError."""
        run = self._runs.get(workflow_id)
        if run is not None:
            steps = [run.steps[s.id] for s in run.spec.steps]
            waiting = {
                task_id: reason
                for task_id, task in run.shown.items()
                if (reason := self._tasks.waiting_reason(task))
            }
            return Snapshot(
                record=run.record,
                steps=steps,
                tasks=dict(run.shown),
                last_events=self._last_event,
                spec=run.spec,
                waiting=waiting,
            )
        record, steps = await self._store.get_workflow(workflow_id)
        tasks = await self._tasks.get_many([t for s in steps for t in s.task_ids])
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
                                run.track(await self._tasks.cancel(task_id))
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

    def subscribe(self, workflow_id: str) -> Watch:
        watch = Watch()
        self._watchers.setdefault(workflow_id, set()).add(watch)
        return watch

    def unsubscribe(self, workflow_id: str, watch: Watch) -> None:
        watchers = self._watchers.get(workflow_id)
        if watchers is not None:
            watchers.discard(watch)
            if not watchers:
                del self._watchers[workflow_id]

    def _changed(self, workflow_id: str, *, ended: bool = False) -> None:
        for watch in self._watchers.get(workflow_id, ()):
            watch.changed.set()
            if ended:
                watch.ended.set()

    # -- driving the DAG ----------------------------------------------------------------------

    def _on_task_item(self, item: WatchItem) -> None:
        workflow_id = self._owner.get(
            item.task_id if isinstance(item, TaskEventRecord) else item.id
        )
        if workflow_id is None:
            return
        if isinstance(item, TaskEventRecord):
            self._last_event[item.task_id] = item
        elif (run := self._runs.get(workflow_id)) is not None:
            run.shown[item.id] = item
            if item.state.terminal:
                self._last_event.pop(item.id, None)
        self._changed(workflow_id)

    def _on_task_applied(self, task: TaskRecord) -> None:
        """Move the DAG on as soon as a step's task ends: the next step's tasks are written
        after that end (writes are ordered), so a hub that dies first redoes no more than the
        step's tasks' keys allow; clients still hear of everything only once committed."""
        run = self._run_of(task)
        if run is None:
            return
        run.track(task)
        if task.state.terminal:
            future = asyncio.ensure_future(self._advance(run.record.id, [run.step_of[task.id]]))
            self._inflight.add(future)
            future.add_done_callback(self._settled)

    def _run_of(self, task: TaskRecord) -> Run | None:
        """The run a task belongs to; a new step task is known by its key (its first
        transitions come before `submit_many` returns its id)."""
        workflow_id = self._owner.get(task.id)
        if workflow_id is not None:
            return self._runs.get(workflow_id)
        parts = task.spec.idempotency_key.split(":")  # see _step_key
        if len(parts) != 4 or parts[0] != "wf":
            return None
        _, workflow_id, step_id, _ = parts
        run = self._runs.get(workflow_id)
        if run is None or step_id not in run.steps:
            return None
        self._owner[task.id] = workflow_id
        run.step_of[task.id] = step_id
        return run

    def _settled(self, future: asyncio.Future[None]) -> None:
        self._inflight.discard(future)
        if not future.cancelled() and (error := future.exception()) is not None:
            log.error("workflow step could not advance: %s", error, exc_info=error)

    async def _advance(self, workflow_id: str, changed: Iterable[str] | None = None) -> None:
        """Finish steps whose tasks ended, start or skip steps whose needs ended, and end the
        workflow when every step has. `changed`: the steps that may have moved (None: all);
        only they and, as they end, the steps that need them are looked at."""
        run = self._runs.get(workflow_id)
        if run is None:
            return
        async with run.lock:
            if run.record.state.terminal:
                return
            pending = dict.fromkeys(run.spec.order if changed is None else changed)
            while pending:
                step_id = next(iter(pending))
                del pending[step_id]
                before = run.steps[step_id].state
                if before is StepState.RUNNING:
                    self._maybe_finish_step(run, run.steps[step_id])
                elif before is StepState.WAITING:
                    await self._maybe_start_step(run, run.spec.step(step_id))
                after = run.steps[step_id].state
                if after is StepState.RUNNING and before is StepState.WAITING:
                    # Its tasks may have ended already (a hub restart), or there are none.
                    pending[step_id] = None
                elif after.terminal and not before.terminal:
                    pending.update(dict.fromkeys(run.followers[step_id]))
                    if run.spec.concurrency is not None:  # a place to run has come free
                        pending.update(
                            (s, None)
                            for s in run.spec.order
                            if run.steps[s].state is StepState.WAITING
                        )
            if not run.unfinished:
                failed = [s for s in run.steps.values() if s.state is StepState.FAILED]
                if failed:
                    first = failed[0]
                    self._finish(
                        run, WorkflowState.FAILED, f"step {first.step_id} failed: {first.message}"
                    )
                else:
                    self._finish(run, WorkflowState.SUCCEEDED, "")

    def _maybe_finish_step(self, run: Run, step: StepRecord) -> None:
        if run.open_tasks.get(step.step_id):
            return
        tasks = [run.tasks[t] for t in step.task_ids]
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
        if limit is not None and limit <= sum(
            1 for s in run.steps.values() if s.state is StepState.RUNNING
        ):
            return
        try:
            specs = self._instances(run, spec)
        except InvalidArgumentError as exc:
            self._set_step(run, spec.id, state=StepState.FAILED, message=str(exc))
            return
        keyed = [
            replace(
                task_spec,
                idempotency_key=_step_key(run, spec.id, index),
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
            run.step_of[task.id] = spec.id
            self._owner[task.id] = run.record.id
            if task.id not in run.tasks:  # else it has moved on already
                run.track(task)
            run.shown.setdefault(task.id, task)
            task_ids.append(task.id)
        self._set_step(
            run, spec.id, state=StepState.RUNNING, task_ids=tuple(task_ids), started_at=time.time()
        )

    def _instances(self, run: Run, spec: StepSpec) -> list[TaskSpec]:
        context: dict[str, Any] = {"inputs": dict(run.record.inputs), "steps": _Outputs(run.steps)}
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
        was = run.steps[step_id].state
        step = replace(run.steps[step_id], **changes)
        if step.state.terminal and step.finished_at is None:
            step = replace(step, finished_at=time.time())
        run.unfinished -= step.state.terminal and not was.terminal
        run.steps[step_id] = step
        self._write(run, self._store.update_step(step))

    def _finish(self, run: Run, state: WorkflowState, message: str) -> None:
        run.record = replace(run.record, state=state, finished_at=time.time(), message=message)
        self._write(run, self._store.update_workflow(run.record), ended=True)
        del self._runs[run.record.id]
        for task_id in run.tasks:
            self._owner.pop(task_id, None)
        log.info("workflow %s %s", run.record.id, state.value.lower())

    def _write(self, run: Run, write: Coroutine[Any, Any, None], *, ended: bool = False) -> None:
        """Persist a change of the run without waiting: the next step's tasks can go in the
        same commit. Writes reach the store in order; watchers hear of each once committed,
        and a hub that dies first redoes the step from its tasks' states (their keys make
        that safe)."""

        async def committed() -> None:
            await write
            self._changed(run.record.id, ended=ended)

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


def _step_key(run: Run, step_id: str, index: int) -> str:
    """The idempotency key of a step instance's task (ULIDs and step ids have no colons)."""
    return f"wf:{run.record.id}:{step_id}:{index}"


class _Outputs(Mapping[str, Mapping[str, Any]]):
    """`steps.<id>.outputs` for expressions, looked up when one asks (a long workflow would
    otherwise copy every step's outputs for each step it starts)."""

    def __init__(self, steps: Mapping[str, StepRecord]) -> None:
        self._steps = steps

    def __getitem__(self, step_id: str) -> Mapping[str, Any]:
        step = self._steps[step_id]
        if step.outputs is None:
            raise KeyError(step_id)
        return {"outputs": step.outputs}

    def __iter__(self) -> Iterator[str]:
        return (step_id for step_id, step in self._steps.items() if step.outputs is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)
