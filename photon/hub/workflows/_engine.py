"""The workflow engine: runs each workflow's DAG of steps as tasks of the task engine.

Steps start when their `needs` have ended and their condition holds; their tasks carry an
idempotency key per step instance, so a hub that dies between creating a step's tasks and
recording them creates the same tasks again, not new ones.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..._ids import new_ulid
from ...errors import ConflictError, InvalidArgumentError, PhotonError
from ...model import StepState, TaskState, ToolInfo, WorkflowState
from ..core import (
    DEFAULT_LIMITS,
    Limits,
    StepRecord,
    TaskEventRecord,
    TaskRecord,
    WorkflowRecord,
    usage_of,
)
from ..store import WorkflowStore
from ..tasks import Spend, TaskEngine, WatchItem, budget_reached
from ._dag import (
    Readiness,
    StepKey,
    at_concurrency_limit,
    instances,
    keyed,
    readiness,
    step_end,
    workflow_end,
)
from ._spec import StepSpec, WorkflowSpec, check_tools, parse_workflow, resolve_inputs

log = logging.getLogger(__name__)
STEPS_PER_TURN = 100  # steps cancelled between yields to the event loop
SPECS_KEPT = 64  # ended workflows whose parsed document is kept (a maximal one takes ~20 ms)


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
    unwritten: dict[str, StepRecord] = field(default_factory=dict)  # step id -> changed step
    step_of: dict[str, str] = field(default_factory=dict)  # task id -> step id
    open_tasks: dict[str, set[str]] = field(default_factory=dict)  # step id -> tasks not ended
    last_events: dict[str, TaskEventRecord] = field(default_factory=dict)  # task id -> latest
    spend: Spend = field(default_factory=Spend)  # of its tasks, as their tools report it
    over_budget: str = ""  # why no more steps start, once the budget is reached
    followers: dict[str, list[str]] = field(init=False)  # step id -> the steps that need it
    unfinished: int = field(init=False)  # steps not ended yet
    running: int = field(init=False)  # steps RUNNING (for the workflow's concurrency)

    def __post_init__(self) -> None:
        self.unfinished = sum(not s.state.terminal for s in self.steps.values())
        self.running = sum(s.state is StepState.RUNNING for s in self.steps.values())
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
        if task.attempt and (task.state.terminal or task.state is TaskState.RETRY_WAIT):
            self.spend.ended(task.id, task.attempt, task.outputs)
        open_tasks = self.open_tasks.setdefault(self.step_of[task.id], set())
        if task.state.terminal:
            open_tasks.discard(task.id)
        else:
            open_tasks.add(task.id)

    def spent(self) -> float:
        return sum(self.spend.total(task_id) for task_id in self.step_of)


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
    spent_usd: float = 0.0


def _checked(document: Mapping[str, Any], tools: list[ToolInfo], limits: Limits) -> WorkflowSpec:
    """A submitted document, parsed and checked against the limits and the agents' tools."""
    return check_tools(parse_workflow(document, limits=limits), tools)


class WorkflowEngine:
    def __init__(
        self,
        *,
        store: WorkflowStore,
        tasks: TaskEngine,
        limits: Limits = DEFAULT_LIMITS,
        on_fatal: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._store = store
        self._tasks = tasks
        self._limits = limits
        self._on_fatal = on_fatal
        self._runs: dict[str, Run] = {}
        self._owner: dict[str, str] = {}  # task id -> workflow id, while the workflow runs
        self._watchers: dict[str, set[Watch]] = {}
        self._ended_specs: dict[str, WorkflowSpec] = {}  # the latest SPECS_KEPT to end
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
                spec=parse_workflow(record.document, limits=None),
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
        """Validate and start a workflow. Raises InvalidArgumentError naming step and field, or
        the limit the document is over.

        The document is checked in a worker thread (the checks are pure, and a maximal document
        takes a while), so the hub goes on serving meanwhile; cancelled then, the check runs to
        its end unseen and nothing is recorded.
        """
        spec = await asyncio.to_thread(_checked, document, self._tasks.tools(), self._limits)
        pins: dict[str, str] = {}  # each agent pin resolved once, however many steps name it
        refusals: dict[tuple[str, str], str | None] = {}
        for step in spec.steps:
            task = step.task
            if task.agent:
                try:
                    if task.agent not in pins:
                        pins[task.agent] = await self._tasks.resolve_agent(task.agent)
                    task = replace(task, agent=pins[task.agent])
                except PhotonError as exc:
                    raise InvalidArgumentError(f"step {step.id!r}: {exc}") from None
            if task.env:
                try:
                    self._tasks.check_env(task.env)
                except InvalidArgumentError as exc:
                    raise InvalidArgumentError(f"step {step.id!r}: {exc}") from None
            # Whether a task is refused depends on its tool and agent pin alone.
            if (task.tool, task.agent) not in refusals:
                refusals[task.tool, task.agent] = self._tasks.refusal(task)
            if reason := refusals[task.tool, task.agent]:
                raise InvalidArgumentError(f"step {step.id!r}: {reason}")
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
                last_events=run.last_events,
                spec=run.spec,
                waiting=waiting,
                spent_usd=run.spent(),
            )
        record, steps = await self._store.get_workflow(workflow_id)
        tasks = await self._tasks.get_many([t for s in steps for t in s.task_ids])
        return Snapshot(
            record=record,
            steps=steps,
            tasks=tasks,
            last_events={},
            spec=await self._ended_spec(record),
            # Ended: what the tasks' last attempts reported (the events are not read back).
            spent_usd=sum(usage_of(t.outputs).cost_usd for t in tasks.values()),
        )

    async def _ended_spec(self, record: WorkflowRecord) -> WorkflowSpec:
        """An ended workflow's document, parsed (a document never changes)."""
        spec = self._ended_specs.get(record.id)
        if spec is None:
            spec = await asyncio.to_thread(parse_workflow, record.document, limits=None)
            self._keep_spec(record.id, spec)
        return spec

    def _keep_spec(self, workflow_id: str, spec: WorkflowSpec) -> None:
        self._ended_specs[workflow_id] = spec
        if len(self._ended_specs) > SPECS_KEPT:
            del self._ended_specs[next(iter(self._ended_specs))]

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
            for index, step_id in enumerate(list(run.steps)):
                if index and not index % STEPS_PER_TURN:
                    self._write_steps(run)
                    await asyncio.sleep(0)  # a maximal workflow holds up no other client
                step = run.steps[step_id]  # as it is now: a task may have ended meanwhile
                if step.state is StepState.RUNNING:
                    for task_id in step.task_ids:
                        if not run.tasks[task_id].state.terminal:
                            self._write_steps(run)
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
        run = self._runs.get(workflow_id)
        if run is None:
            return
        if isinstance(item, TaskEventRecord):
            run.last_events[item.task_id] = item
            run.spend.event(item.task_id, item.attempt, item.kind, item.data)
        else:
            run.shown[item.id] = item
            if item.state.terminal:
                run.last_events.pop(item.id, None)
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
        key = StepKey.parse(task.spec.idempotency_key)
        if key is None:
            return None
        run = self._runs.get(key.workflow_id)
        if run is None or key.step_id not in run.steps:
            return None
        self._owner[task.id] = key.workflow_id
        run.step_of[task.id] = key.step_id
        return run

    def _settled(self, future: asyncio.Future[None]) -> None:
        self._inflight.discard(future)
        if not future.cancelled() and (error := future.exception()) is not None:
            log.error("a workflow could not move on: %s", error)
            if self._on_fatal is not None:
                self._on_fatal(error)

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
            self._write_steps(run)
            if not run.unfinished:
                if run.over_budget:
                    self._finish(run, WorkflowState.FAILED, run.over_budget)
                else:
                    self._finish(run, *workflow_end(run.steps[s] for s in run.spec.order))

    def _maybe_finish_step(self, run: Run, step: StepRecord) -> None:
        if run.open_tasks.get(step.step_id):
            return
        end = step_end(run.spec.step(step.step_id), (run.tasks[t] for t in step.task_ids))
        self._set_step(run, step.step_id, state=end.state, outputs=end.outputs, message=end.message)

    async def _maybe_start_step(self, run: Run, spec: StepSpec) -> None:
        ready = readiness(spec, run.steps)
        if ready is Readiness.WAIT:
            return
        if ready is Readiness.SKIP:
            self._set_step(
                run,
                spec.id,
                state=StepState.SKIPPED,
                message=f"condition {spec.condition} is false",
            )
            return
        if at_concurrency_limit(run.spec, run.running):
            return
        budget = run.spec.budget_usd
        if budget is not None and (run.over_budget or (spent := run.spent()) >= budget):
            run.over_budget = run.over_budget or budget_reached(budget, spent)
            message = f"not started: {run.over_budget}"
            self._set_step(run, spec.id, state=StepState.SKIPPED, message=message)
            return
        try:
            specs = instances(spec, inputs=run.record.inputs, steps=run.steps, limits=self._limits)
        except InvalidArgumentError as exc:
            self._set_step(run, spec.id, state=StepState.FAILED, message=str(exc))
            return
        if spec.continues:
            continued = run.steps[spec.continues].task_ids
            if len(continued) != 1:
                message = f"continues step {spec.continues!r}, which ran no task"
                self._set_step(run, spec.id, state=StepState.FAILED, message=message)
                return
            specs = [replace(s, continue_from=continued[0]) for s in specs]
        self._write_steps(run)  # what changed before these tasks is written before them
        try:
            # Keys are made up here, so a run this hub started cannot have their tasks yet.
            submitted = await self._tasks.submit_many(
                keyed(run.record.id, spec.id, specs), refuse=False, fresh_keys=not run.resumed
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

    def _set_step(self, run: Run, step_id: str, **changes: Any) -> None:
        was = run.steps[step_id].state
        step = replace(run.steps[step_id], **changes)
        if step.state.terminal and step.finished_at is None:
            step = replace(step, finished_at=time.time())
        run.unfinished -= step.state.terminal and not was.terminal
        run.running += (step.state is StepState.RUNNING) - (was is StepState.RUNNING)
        run.steps[step_id] = step
        run.unwritten[step_id] = step

    def _write_steps(self, run: Run) -> None:
        """Write the steps changed since the last call, in one store write (a cancelled
        workflow of a thousand steps is one, not a thousand)."""
        if run.unwritten:
            steps, run.unwritten = list(run.unwritten.values()), {}
            self._write(run, self._store.update_steps(steps))

    def _finish(self, run: Run, state: WorkflowState, message: str) -> None:
        self._write_steps(run)
        run.record = replace(run.record, state=state, finished_at=time.time(), message=message)
        self._write(run, self._store.update_workflow(run.record), ended=True)
        del self._runs[run.record.id]
        self._keep_spec(run.record.id, run.spec)
        for task_id in run.step_of:
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
