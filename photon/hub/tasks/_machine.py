"""The task lifecycle as a state machine without I/O: events in, commands out.

`TaskMachine` holds every unfinished task and decides each transition: attempts and their
fencing epochs, retries per failure class, queue timeouts, cancel races and what an agent that
reconnects still runs. Each event method returns the commands that carry the decision out, in
order; `TaskEngine` performs them (writes, stream messages, slots) and does nothing else. No
clock is read here: callers pass the time in, so every rule is a plain function call in tests.

Rules worth knowing:
- A new attempt (dispatch, retry, cancel) moves the task to a new epoch; an agent's message
  counts only if it names the task's current attempt and epoch and comes from the agent the
  attempt was given to. Anything else is stale and changes nothing.
- A cancelled attempt keeps its slot and mesh-wide locks until its own agent confirms the end,
  so nothing else starts under a lock while the old process may still be running.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..._utc import rfc3339
from ...model import Failure, FailureClass, TaskSpec, TaskState, ToolInfo
from ..core import (
    AGENT_SPECIFIC,
    DEFAULT_LIMITS,
    AgentView,
    AttemptRef,
    Limits,
    TaskEventRecord,
    TaskRecord,
    retry_delay,
)
from ..fleet import AckResult, AgentMessage, AssignTask, CancelAttempt
from ._budget import Spend, budget_reached
from ._quota import QuotaBlock, fallback_spec, out_of_quota
from ._scheduler import Scheduler, ToolLimit, Waiting, place

BOUND = frozenset({TaskState.ASSIGNED, TaskState.RUNNING})
QUEUED = frozenset({TaskState.QUEUED, TaskState.RETRY_WAIT})
_END_STATE = {
    FailureClass.CANCELLED: TaskState.CANCELLED,
    FailureClass.TIMEOUT: TaskState.TIMED_OUT,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Instant:
    """The time of an event: `wall` (Unix seconds, for records and quota resets) and `mono`
    (monotonic seconds, for backoffs)."""

    wall: float
    mono: float


# -- commands ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Send:
    """Queue a message on the agent's stream."""

    agent_id: str
    message: AgentMessage


@dataclass(frozen=True, slots=True, kw_only=True)
class Persist:
    """Write the task's new state with its state event, if the stored epoch is still
    `expected_epoch`; publish both once committed, then send `then`."""

    task: TaskRecord
    expected_epoch: int
    event: TaskEventRecord
    then: tuple[Send, ...] = ()
    respec: bool = False  # the spec changed too (a fallback tool took over)
    waited: float | None = None  # seconds the task was queued, when this ends its wait


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """Append progress events; publish them once committed."""

    events: tuple[TaskEventRecord, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Occupy:
    """The agent's slot is taken by the task (until `Free`)."""

    agent_id: str
    task_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Free:
    agent_id: str
    task_id: str


Command = Send | Persist | Record | Occupy | Free


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What an agent reported at the end of an attempt."""

    ok: bool
    outputs: Mapping[str, Any] = field(default_factory=dict)
    failure: Failure | None = None
    started_at: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    kind: str
    message: str
    data: Mapping[str, Any]


# -- the machine ------------------------------------------------------------------------------


class TaskMachine:
    """Every unfinished task, its queue and the mesh-wide resources tasks hold."""

    def __init__(
        self,
        *,
        tool_limits: Mapping[str, ToolLimit] | None = None,
        limits: Limits = DEFAULT_LIMITS,
        awaited: Collection[str] = (),
        grace_until: float = 0.0,
    ) -> None:
        self._scheduler = Scheduler(limits=tool_limits)
        self._limits = limits
        self._tasks: dict[str, TaskRecord] = {}
        self._seq: dict[str, int] = {}  # the last event seq given out, per task
        self._ending: dict[str, str] = {}  # cancelled task id -> the agent still ending it
        # Queued and retrying tasks: since when (Unix time) each has waited to start, and a heap
        # of when each one's queue timeout fires (entries that no longer match are skipped).
        self._waiting_since: dict[str, float] = {}
        self._deadlines: list[tuple[float, str]] = []
        # Agents' progress events: how many each task kept and dropped, and each agent's budget.
        self._kept: dict[str, int] = {}
        self._dropped: dict[str, int] = {}
        self._budgets: dict[str, tuple[float, float]] = {}  # agent id -> (events, as of mono)
        self._over_budget: set[str] = set()  # agents whose last events overran their budget
        self._awaited = set(awaited)  # agents known before a restart, not back yet
        self._grace_until = grace_until  # monotonic; until then no agent is judged lost
        self._spent = Spend()  # of tasks with a budget
        self._names: dict[str, str] = {}  # agent id -> name, of agents given a task

    # -- queries ------------------------------------------------------------------------------

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)

    def get(self, task_id: str) -> TaskRecord | None:
        return self._tasks.get(task_id)

    def tasks(self) -> Iterable[TaskRecord]:
        return self._tasks.values()

    def has_queued(self) -> bool:
        return bool(self._scheduler)

    def next_ready(self, mono: float) -> float | None:
        """When a backed-off task next becomes ready, if any (monotonic)."""
        return self._scheduler.next_ready(mono)

    def quota_blocks(self, mono: float) -> list[QuotaBlock]:
        """The tools out of quota on agents now, and until when."""
        return self._scheduler.quota.active(mono)

    def in_failover(self, mono: float) -> bool:
        """Just restarted and some known agents have not reconnected: judge nothing yet."""
        return bool(self._awaited) and mono < self._grace_until

    def waiting_reason(self, task: TaskRecord, views: Sequence[AgentView]) -> str:
        """Why a queued task is not running yet; empty for any other."""
        if task.state not in QUEUED:
            return ""
        if reason := self._scheduler.reason(task.id):
            return reason
        decision = place(task.spec, views)
        return decision.reason if isinstance(decision, Waiting) else ""

    # -- tasks coming and going ---------------------------------------------------------------

    def load(self, tasks: Iterable[TaskRecord], seqs: Mapping[str, int], now: Instant) -> None:
        """Take over unfinished tasks from the store (already claimed, so queued ones are at a
        new epoch)."""
        for task in tasks:
            self._tasks[task.id] = task
            self._seq[task.id] = seqs.get(task.id, 0)
            if task.state in BOUND:
                self._scheduler.hold(task.id, task.spec)
            else:
                self._scheduler.enqueue(task.id, task.spec)
                first = task.state is TaskState.QUEUED
                self._wait(task, since=task.created_at if first else now.wall)

    def admit(self, task: TaskRecord) -> None:
        """A new task joins the queue (its insert may still be in flight)."""
        self._tasks[task.id] = task
        self._seq[task.id] = 0
        self._wait(task, since=task.created_at)
        self._scheduler.enqueue(task.id, task.spec)

    def _wait(self, task: TaskRecord, *, since: float) -> None:
        self._waiting_since[task.id] = since
        heapq.heappush(self._deadlines, (since + task.spec.queue_timeout, task.id))
        if len(self._deadlines) > 2 * len(self._waiting_since) + 1024:  # mostly started ones
            self._deadlines = [
                (start + self._tasks[i].spec.queue_timeout, i)
                for i, start in self._waiting_since.items()
            ]
            heapq.heapify(self._deadlines)

    def abandon(self, task_id: str, reason: str) -> list[Command]:
        """Forget a task nobody was told about (its insert failed, or it had a twin); an
        attempt already sent out is called back."""
        task = self._tasks.pop(task_id, None)
        self._seq.pop(task_id, None)
        self._waiting_since.pop(task_id, None)
        return [] if task is None else self._withdraw(task, reason)

    def cancel(
        self, task_id: str, now: Instant, reason: str = "cancelled by a user"
    ) -> list[Command]:
        """End an unfinished task as CANCELLED: a queued one at once, a running one is killed
        on its agent (which keeps the slot until it confirms). Raises KeyError for a task not
        in memory (ended, or unknown)."""
        task = self._tasks[task_id]
        commands = self._withdraw(task, reason)
        cancelled = replace(
            task,
            state=TaskState.CANCELLED,
            failure=Failure(failure_class=FailureClass.CANCELLED, message=reason),
            epoch=task.epoch + 1,
            finished_at=now.wall,
        )
        return [*commands, self._transition(task, cancelled, reason, now)]

    def _withdraw(self, task: TaskRecord, reason: str) -> list[Command]:
        """Take a task out of the queue, or call back its attempt from the agent running it."""
        if task.state not in BOUND:
            self._scheduler.dequeue(task.id)
            return []
        self._ending[task.id] = task.agent_id
        return [Send(agent_id=task.agent_id, message=CancelAttempt(ref=task.ref, reason=reason))]

    # -- dispatch -----------------------------------------------------------------------------

    def dispatch(
        self, views: Sequence[AgentView], now: Instant, tools: Iterable[ToolInfo] = ()
    ) -> list[Command]:
        """Place what fits: each placed task gets a new attempt and epoch on its agent. A task
        whose tool is out of quota everywhere may go to one of its fallback tools, as `tools`
        (what the agents offer) say that tool takes it."""
        commands: list[Command] = []
        assignments = self._scheduler.schedule(views, now.mono)
        names = {v.id: v.name for v in views} if assignments else {}
        offered = list(tools) if any(a.fallback for a in assignments) else []
        for assignment in assignments:
            queued = self._tasks[assignment.task_id]
            task = replace(
                queued,
                state=TaskState.ASSIGNED,
                attempt=queued.attempt + 1,
                epoch=queued.epoch + 1,
                agent_id=assignment.agent_id,
                started_at=None,
                failure=None,
            )
            name = self._names[task.agent_id] = names.get(task.agent_id, task.agent_id)
            note = f"assigned to {name} (attempt {task.attempt})"
            if assignment.fallback:
                task = replace(task, spec=fallback_spec(queued.spec, assignment.fallback, offered))
                note = (
                    f"{out_of_quota(queued.spec.tool, assignment.quota_until)};"
                    f" falling back to {assignment.fallback}: {note}"
                )
            commands += [
                Occupy(agent_id=task.agent_id, task_id=task.id),
                self._transition(queued, task, note, now, respec=bool(assignment.fallback)),
                Send(agent_id=task.agent_id, message=AssignTask(task=task)),
            ]
        return commands

    # -- what agents report -------------------------------------------------------------------

    def _current(self, agent_id: str, ref: AttemptRef) -> TaskRecord | None:
        """The task, if `ref` is its current attempt and `agent_id` holds it."""
        task = self._tasks.get(ref.task_id)
        if (
            task is None
            or task.state not in BOUND
            or task.agent_id != agent_id
            or task.attempt != ref.attempt
            or task.epoch != ref.epoch
        ):
            return None
        return task

    def accepted(self, agent_id: str, ref: AttemptRef, now: Instant) -> list[Command]:
        task = self._current(agent_id, ref)
        if task is None or task.state is TaskState.RUNNING:
            return []
        running = replace(task, state=TaskState.RUNNING, started_at=now.wall)
        return [self._transition(task, running, "running", now)]

    def progress(
        self, agent_id: str, ref: AttemptRef, events: Sequence[Progress], now: Instant
    ) -> list[Command]:
        """Record an attempt's events, within the caps: `max-events-per-task` for each task and
        `max-agent-events-per-second` for each agent. Events over a cap are dropped and counted;
        the first drop is recorded as a warning event, and the task's end event carries the
        count."""
        task = self._current(agent_id, ref)
        if task is None or not events:
            return []
        if task.spec.budget_usd is not None:
            for e in events:
                self._spent.event(task.id, task.attempt, e.kind, e.data)
        room = max(self._limits.max_events_per_task - self._kept.get(task.id, 0), 0)
        wanted = min(len(events), room)
        limit = "max-events-per-task" if wanted < len(events) else "max-agent-events-per-second"
        kept = events[: self._spend(agent_id, wanted, now)]
        if len(kept) < wanted:
            self._over_budget.add(agent_id)
        else:
            self._over_budget.discard(agent_id)
        self._kept[task.id] = self._kept.get(task.id, 0) + len(kept)
        records = [self._event(task, e.kind or "log", e.message, e.data, now) for e in kept]
        if dropped := len(events) - len(kept):
            if not self._dropped.get(task.id):
                note = f"progress events over the limit {limit} are dropped from here on"
                records.append(self._event(task, "warning", note, {"limit": limit}, now))
            self._dropped[task.id] = self._dropped.get(task.id, 0) + dropped
        return [Record(events=tuple(records))] if records else []

    def over_budget(self, agent_id: str) -> bool:
        """Whether the agent's last events overran max-agent-events-per-second (its stream is
        then read more slowly, so that a flood costs the hub little more than its cap)."""
        return agent_id in self._over_budget

    def _spend(self, agent_id: str, count: int, now: Instant) -> int:
        """How many of `count` events the agent's budget allows now (a token bucket refilled
        at max-agent-events-per-second, holding one second's worth)."""
        rate = float(self._limits.max_agent_events_per_second)
        tokens, as_of = self._budgets.get(agent_id, (rate, now.mono))
        tokens = min(rate, tokens + (now.mono - as_of) * rate)
        allowed = min(count, int(tokens))
        self._budgets[agent_id] = (tokens - allowed, now.mono)
        return allowed

    def result(
        self, agent_id: str, ref: AttemptRef, outcome: Outcome, now: Instant
    ) -> list[Command]:
        """The end of an attempt. The agent is acked once the outcome is committed, or at once
        when the result is stale (it can drop it: it will never count)."""
        commands = self._attempt_ended(agent_id, ref)
        ack = Send(agent_id=agent_id, message=AckResult(ref=ref))
        task = self._current(agent_id, ref)
        if task is None:
            return [*commands, ack]
        started = outcome.started_at or task.started_at
        if outcome.ok:
            done = replace(
                task,
                state=TaskState.SUCCEEDED,
                outputs=dict(outcome.outputs),
                started_at=started,
                finished_at=now.wall,
            )
            return [*commands, self._transition(task, done, "succeeded", now, then=(ack,))]
        failure = outcome.failure or Failure(
            failure_class=FailureClass.TOOL_ERROR, message="the attempt failed"
        )
        ended = self._retry_or_fail(
            replace(task, started_at=started), failure, now, then=(ack,), outputs=outcome.outputs
        )
        return [*commands, ended]

    def undeliverable(
        self, agent_id: str, ref: AttemptRef, failure: Failure, now: Instant
    ) -> list[Command]:
        """An attempt the hub could not send to its agent (a secret it references is gone):
        it ends with `failure` as if the agent had reported it, and the agent hears nothing."""
        task = self._current(agent_id, ref)
        if task is None:
            return []
        return [*self._attempt_ended(agent_id, ref), self._retry_or_fail(task, failure, now)]

    def _attempt_ended(self, agent_id: str, ref: AttemptRef) -> list[Command]:
        """The agent is done with an attempt: free its slot, and the task's locks if the attempt
        was the one holding them. A report from an agent that does not hold the attempt frees
        nothing of anyone else's."""
        task_id = ref.task_id
        commands: list[Command] = [Free(agent_id=agent_id, task_id=task_id)]
        if self._ending.get(task_id) == agent_id:
            del self._ending[task_id]
            self._scheduler.release(task_id)
        elif self._current(agent_id, ref) is not None:
            self._scheduler.release(task_id)
        return commands

    def _retry_or_fail(
        self,
        task: TaskRecord,
        failure: Failure,
        now: Instant,
        then: tuple[Send, ...] = (),
        outputs: Mapping[str, Any] | None = None,
    ) -> Persist:
        delay = retry_delay(task.spec.retry, task.attempt, failure, now=now.wall)
        budget = task.spec.budget_usd
        if budget is not None:
            spent = self._spent.ended(task.id, task.attempt, outputs)
            if delay is not None and spent >= budget:
                delay = None
                failure = replace(
                    failure,
                    message=f"{failure.message}; not retried: {budget_reached(budget, spent)}",
                )
        until = None
        if failure.failure_class is FailureClass.QUOTA and task.agent_id:
            # The block keeps the tool off that agent for every task, this one's last attempt
            # or not; elsewhere (or a fallback) a retry may go now.
            until = self._scheduler.quota.block(
                task.agent_id, task.spec.tool, failure.retry_at, wall=now.wall, mono=now.mono
            )
        if delay is None:
            state = _END_STATE.get(failure.failure_class, TaskState.FAILED)
            ended = replace(task, state=state, failure=failure, finished_at=now.wall)
            return self._transition(
                task, ended, f"{state.value.lower()}: {failure.message}", now, then=then
            )
        avoid = (
            frozenset({task.agent_id}) if failure.failure_class in AGENT_SPECIFIC else frozenset()
        )
        # A new epoch fences off any late result of the attempt that failed.
        waiting = replace(task, state=TaskState.RETRY_WAIT, epoch=task.epoch + 1, failure=failure)
        note = f"attempt {task.attempt} failed ({failure.failure_class}); retry in {delay:.1f}s"
        ready_at = now.mono + delay
        if until is not None:
            note = (
                f"attempt {task.attempt} failed (quota on {task.spec.tool}"
                f"@{self._names.get(task.agent_id, task.agent_id)}"
                f" until {rfc3339(until)}); retrying at once where the quota is left"
            )
            ready_at = now.mono
        persist = self._transition(task, waiting, note, now, then=then)
        self._scheduler.enqueue(task.id, task.spec, ready_at=ready_at, avoid=avoid)
        self._wait(task, since=now.wall + delay)  # its queue timeout counts from then
        return persist

    # -- agents coming and going --------------------------------------------------------------

    def agent_connected(
        self,
        agent_id: str,
        *,
        running: Sequence[AttemptRef],
        held: Sequence[AttemptRef],
        now: Instant,
    ) -> list[Command]:
        """Reconcile what a (re)connecting agent says it runs, or holds results for, with what
        the hub gave it: its current attempts go on; the others were lost; attempts it runs
        that are no longer current are called back (their slot is busy until they end)."""
        self._awaited.discard(agent_id)
        reported = {r.task_id: r for r in (*running, *held)}
        commands: list[Command] = []
        lost = []
        for task in list(self._tasks.values()):
            if task.agent_id != agent_id or task.state not in BOUND:
                continue
            ref = reported.get(task.id)
            if ref == task.ref:
                commands.append(Occupy(agent_id=agent_id, task_id=task.id))
            else:
                lost.append(task)
        for ref in running:
            if self._current(agent_id, ref) is None:
                commands += [
                    Occupy(agent_id=agent_id, task_id=ref.task_id),
                    Send(
                        agent_id=agent_id,
                        message=CancelAttempt(ref=ref, reason="attempt is no longer current"),
                    ),
                ]
        failure = Failure(failure_class=FailureClass.AGENT_LOST, message="agent lost the task")
        for task in lost:
            self._scheduler.release(task.id)
            # Its slot was held for it across the reconnection: the agent runs it no more.
            commands += [
                Free(agent_id=agent_id, task_id=task.id),
                self._retry_or_fail(task, failure, now),
            ]
        return commands

    def agent_lost(self, agent_id: str, now: Instant) -> list[Command]:
        """The agent is gone (silent, removed, or never back after a restart): its attempts get
        a new one, and what it was still ending is let go."""
        self._over_budget.discard(agent_id)
        for task_id, owner in list(self._ending.items()):
            if owner == agent_id:
                del self._ending[task_id]
                self._scheduler.release(task_id)
        failure = Failure(
            failure_class=FailureClass.AGENT_LOST, message=f"agent {agent_id} was lost"
        )
        commands: list[Command] = []
        for task in list(self._tasks.values()):
            if task.agent_id == agent_id and task.state in BOUND:
                self._scheduler.release(task.id)
                commands.append(self._retry_or_fail(task, failure, now))
        return commands

    # -- time ---------------------------------------------------------------------------------

    def tick(
        self, now: Instant, *, present: Collection[str], views: Sequence[AgentView]
    ) -> list[Command]:
        """Time passing: after the failover grace, attempts on agents that never came back are
        lost; tasks waiting to start longer than their queue timeout (from submission, or from
        the end of a retry's backoff) end TIMED_OUT with the reason they waited. `present`: the
        agents the hub has a session for."""
        commands: list[Command] = []
        if now.mono > self._grace_until:
            orphaned = {
                t.agent_id
                for t in self._tasks.values()
                if t.state in BOUND and t.agent_id not in present
            }
            for agent_id in sorted(orphaned):
                commands += self.agent_lost(agent_id, now)
        while self._deadlines and self._deadlines[0][0] < now.wall:
            deadline, task_id = heapq.heappop(self._deadlines)
            task = self._tasks.get(task_id)
            since = self._waiting_since.get(task_id)
            if (
                task is not None
                and since is not None
                and since + task.spec.queue_timeout == deadline
            ):
                reason = self.waiting_reason(task, views) or "no capacity"
                self._scheduler.dequeue(task.id)
                failure = Failure(
                    failure_class=FailureClass.TIMEOUT,
                    message=f"not started within {task.spec.queue_timeout:g}s: {reason}",
                )
                timed_out = replace(
                    task, state=TaskState.TIMED_OUT, failure=failure, finished_at=now.wall
                )
                commands.append(self._transition(task, timed_out, failure.message, now))
        return commands

    # -- transitions --------------------------------------------------------------------------

    def _event(
        self, task: TaskRecord, kind: str, message: str, data: Mapping[str, Any], now: Instant
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
            time=now.wall,
        )

    def _transition(
        self,
        before: TaskRecord,
        after: TaskRecord,
        note: str,
        now: Instant,
        *,
        then: tuple[Send, ...] = (),
        respec: bool = False,
    ) -> Persist:
        data: dict[str, Any] = {"state": after.state.value}
        if respec:
            data["tool"] = after.spec.tool
        if after.state.terminal:
            self._kept.pop(after.id, None)
            if dropped := self._dropped.pop(after.id, 0):
                data["dropped_events"] = dropped
        event = self._event(after, "state", note, data, now)
        waited = None
        if after.state not in QUEUED:
            since = self._waiting_since.pop(after.id, None)
            if since is not None and after.state is TaskState.ASSIGNED:
                waited = now.wall - since
        if after.state.terminal:
            self._tasks.pop(after.id, None)
            self._seq.pop(after.id, None)
            self._spent.forget(after.id)
        else:
            self._tasks[after.id] = after
        return Persist(
            task=after,
            expected_epoch=before.epoch,
            event=event,
            then=then,
            respec=respec,
            waited=waited,
        )


def submitted(task_id: str, spec: TaskSpec, now: Instant) -> TaskRecord:
    """A new task's first record."""
    return TaskRecord(id=task_id, spec=spec, state=TaskState.QUEUED, created_at=now.wall)
