"""`Runner`: runs the attempts the hub assigns through their plugins, one task each."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..._env import substitute
from ..._log_fields import TASK_ID
from ..._repos import check_workspace
from ...errors import InvalidArgumentError, TaskFailed
from ...model import Failure, FailureClass, Isolation, WorkspaceSpec
from ...plugins import Plugin, SimpleTaskContext, run_plugin
from ..tools import Toolbox
from ..workspaces import Workspaces
from ._values import Assignment, AttemptRef, Progress, Reports, RunOutcome

log = logging.getLogger(__name__)
# Plugins should stop at their deadline themselves; the runner stops those that don't this much
# later, as timed out.
DEADLINE_GRACE = 5.0
# How long cancelled attempts get to end and report before shutdown goes on without them.
CANCEL_WAIT = 5.0


@dataclass(slots=True, kw_only=True)
class _Attempt:
    ref: AttemptRef
    context: SimpleTaskContext
    tool: str
    workspace: WorkspaceSpec | None = None
    task: asyncio.Task[None] | None = None


class Runner:
    """Runs each assigned attempt in a task of its own and reports on it to `reports`: accepted
    when it starts, its progress, and exactly one outcome. An attempt it cannot run (unknown or
    disabled tool, inputs that are not an object, shutting down) gets a failed outcome at once.

    `run()` owns the attempts' tasks (`started` is set once it takes assignments); `stop()` or
    `drain()` ends it.
    """

    def __init__(
        self,
        *,
        toolbox: Toolbox,
        workdir: Path,
        reports: Reports,
        workspaces: Workspaces | None = None,
    ) -> None:
        self._toolbox = toolbox
        self._workdir = workdir
        self._workspaces = workspaces
        self._reports = reports
        self._attempts: dict[str, _Attempt] = {}
        self._group: asyncio.TaskGroup | None = None
        self._stopping = asyncio.Event()
        self.started = asyncio.Event()

    @property
    def running(self) -> list[AttemptRef]:
        """The attempts running now (or reporting how they ended)."""
        return [a.ref for a in self._attempts.values()]

    async def run(self) -> None:
        """Run attempts until `stop()`, then return once the running ones have ended.

        Cancelling it cancels every attempt (each plugin sees CancelledError) and re-raises.
        """
        async with asyncio.TaskGroup() as group:
            self._group = group
            self.started.set()
            try:
                await self._stopping.wait()
            finally:
                self._group = None

    def stop(self) -> None:
        """Refuse assignments from now on; `run()` returns when the running attempts end.
        Safe to call twice or before `run()`."""
        self._stopping.set()

    async def drain(self, grace: float) -> None:
        """Stop, let running attempts finish within `grace` seconds, then cancel the rest
        (their plugins' cancellation signal) and give them CANCEL_WAIT seconds to report."""
        self.stop()
        tasks = [a.task for a in self._attempts.values() if a.task is not None]
        if not tasks:
            return
        if grace > 0:
            log.info("waiting up to %.0fs for %d task(s)", grace, len(tasks))
        _, late = await asyncio.wait(tasks, timeout=grace)
        for attempt in self._attempts.values():
            attempt.context.cancelled.set()
        if late:
            # Give cancelled attempts a moment to report their outcome before the stream closes.
            await asyncio.wait(late, timeout=CANCEL_WAIT)

    def assign(self, assignment: Assignment) -> None:
        """Start an attempt. A repeat of the running attempt is ignored; an attempt of a newer
        epoch cancels the one it replaces."""
        ref = assignment.ref
        current = self._attempts.get(ref.task_id)
        if current is not None:
            if current.ref.epoch != ref.epoch:
                current.context.cancelled.set()  # the hub moved on; the old attempt is stale
            else:
                return  # a duplicate delivery of what already runs
        if self._stopping.is_set() or self._group is None:
            self._refuse(
                ref, TaskFailed("agent is shutting down", failure_class=FailureClass.AGENT_LOST)
            )
            return
        try:
            plugin = self._toolbox.plugin_for(assignment.tool)
        except TaskFailed as failure:
            self._refuse(ref, failure)
            return
        if assignment.inputs is None:
            self._refuse(
                ref,
                TaskFailed(
                    "inputs are not a JSON object", failure_class=FailureClass.INVALID_INPUT
                ),
            )
            return
        try:
            if assignment.refusal:
                raise InvalidArgumentError(assignment.refusal)
            env = substitute(assignment.env, assignment.secrets)
            workdir = self._workdir_for(ref, assignment.workspace)
        except InvalidArgumentError as exc:
            self._refuse(ref, TaskFailed(str(exc), failure_class=FailureClass.INVALID_INPUT))
            return
        timeout = assignment.timeout
        context = SimpleTaskContext(
            task_id=ref.task_id,
            action=assignment.action or plugin.default_action,
            inputs=assignment.inputs,
            workdir=workdir,
            secrets=dict(assignment.secrets),
            env=env,
            settings=self._toolbox.settings_for(assignment.tool),
            deadline=time.monotonic() + timeout if timeout else None,
            on_event=lambda kind, text, data: self._progress(ref, kind, text, data),
        )
        attempt = _Attempt(
            ref=ref, context=context, tool=assignment.tool, workspace=assignment.workspace
        )
        self._attempts[ref.task_id] = attempt
        self._reports.accepted(ref)
        attempt.task = self._group.create_task(self._run(plugin, attempt))

    def cancel(self, ref: AttemptRef) -> None:
        """Signal the attempt to stop (it still reports its outcome); another epoch's cancel
        is ignored."""
        attempt = self._attempts.get(ref.task_id)
        if attempt is not None and attempt.ref.epoch == ref.epoch:
            attempt.context.cancelled.set()

    def _workdir_for(self, ref: AttemptRef, workspace: WorkspaceSpec | None) -> Path:
        """The tool's working directory: the task's checkout, or the agent's workspace root.
        Raises InvalidArgumentError for a workspace this agent cannot make."""
        if workspace is None:
            return self._workdir
        check_workspace(workspace)
        if self._workspaces is None:
            raise InvalidArgumentError("this agent keeps no workspaces")
        return self._workspaces.path_for(ref.task_id, ref.attempt, workspace)

    def _progress(self, ref: AttemptRef, kind: str, text: str, data: Mapping[str, Any]) -> None:
        self._reports.progress(ref, Progress(kind=kind, message=text, data=data, time=time.time()))

    async def _run(self, plugin: Plugin, attempt: _Attempt) -> None:
        ref, context = attempt.ref, attempt.context
        TASK_ID.set(ref.task_id)  # this attempt's own context: what it logs is about the task
        log.info("running task %s attempt %d with %s", ref.task_id, ref.attempt, plugin.name)
        started = time.time()
        deadline = context.deadline
        backstop = None if deadline is None else deadline + DEADLINE_GRACE - time.monotonic()
        try:
            async with asyncio.timeout(backstop):
                outputs = await self._run_in_workspace(plugin, attempt)
            outcome = RunOutcome(
                ref=ref, outputs=outputs, started_at=started, finished_at=time.time()
            )
        except TaskFailed as failed:
            outcome = _failed(ref, failed, started)
        except TimeoutError:
            overrun = TaskFailed(
                f"{plugin.name} ran past its timeout", failure_class=FailureClass.TIMEOUT
            )
            outcome = _failed(ref, overrun, started)
        if context.secrets:
            outcome = _masked(outcome, context)
        if outcome.failure is None:
            log.info("task %s attempt %d succeeded", ref.task_id, ref.attempt)
        else:
            log.info(
                "task %s attempt %d failed (%s)",
                ref.task_id,
                ref.attempt,
                outcome.failure.failure_class.value,
            )
        try:
            self._reports.finished(outcome)
        finally:
            # Only this attempt's entry: a newer epoch of the task may have taken its place.
            if self._attempts.get(ref.task_id) is attempt:
                del self._attempts[ref.task_id]

    async def _run_in_workspace(self, plugin: Plugin, attempt: _Attempt) -> Mapping[str, Any]:
        """The plugin's outputs; with a workspace, checked out first and then committed, its
        summary under `workspace`. A failed task's worktree is kept, and its failure says
        where."""
        workspace, context = attempt.workspace, attempt.context
        if workspace is None or self._workspaces is None:
            return await run_plugin(plugin, context)
        ref = attempt.ref
        checkout = await self._workspaces.open(ref.task_id, ref.attempt, workspace)
        try:
            outputs = await run_plugin(plugin, context)
        except TaskFailed as failed:
            await self._workspaces.finish(
                checkout, task_id=ref.task_id, tool=attempt.tool, ok=False
            )
            if workspace.isolate is Isolation.SHARED:
                raise
            raise TaskFailed(
                f"{failed} (its worktree is kept at {checkout.path}, branch {checkout.branch})",
                failure_class=failed.failure_class,
                retry_at=failed.retry_at,
            ) from failed
        summary = await self._workspaces.finish(
            checkout, task_id=ref.task_id, tool=attempt.tool, ok=True
        )
        return {**outputs, "workspace": summary}

    def _refuse(self, ref: AttemptRef, failure: TaskFailed) -> None:
        """Answer an assignment this agent cannot run; reported like any outcome."""
        self._reports.finished(_failed(ref, failure, time.time()))


def _masked(outcome: RunOutcome, context: SimpleTaskContext) -> RunOutcome:
    """The outcome with the task's secret values masked in its outputs and failure message, as
    its events are: a tool that prints a secret must not hand it back through either."""
    failure = outcome.failure
    if failure is not None:
        failure = replace(failure, message=context.mask(failure.message))
    return replace(outcome, outputs=context.mask(dict(outcome.outputs)), failure=failure)


def _failed(ref: AttemptRef, failed: TaskFailed, started: float) -> RunOutcome:
    failure = Failure(
        failure_class=failed.failure_class, message=str(failed), retry_at=failed.retry_at
    )
    return RunOutcome(ref=ref, failure=failure, started_at=started, finished_at=time.time())
