"""The task lifecycle's rules as plain calls: no store, no network, no clock, no sleeps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from photon.hub.core import AgentView, AttemptRef, Limits, TaskEventRecord, TaskRecord
from photon.hub.fleet import AckResult, AssignTask, CancelAttempt
from photon.hub.tasks import (
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
    ToolLimit,
)
from photon.hub.tasks._quota import DEFAULT_BLOCK
from photon.model import (
    ActionInfo,
    Failure,
    FailureClass,
    RetryPolicy,
    TaskSpec,
    TaskState,
    ToolInfo,
)

T0 = Instant(wall=1_000_000.0, mono=500.0)


def at(seconds: float) -> Instant:
    return Instant(wall=T0.wall + seconds, mono=T0.mono + seconds)


def agent(name: str, *, slots: int = 4, running: int = 0, accepting: bool = True) -> AgentView:
    return AgentView(
        id=name,
        name=name,
        labels={},
        tools=frozenset({"echo"}),
        disabled_tools=frozenset(),
        slots=slots,
        running=running,
        accepting=accepting,
    )


def queued(task_id: str = "t1", **spec: object) -> TaskRecord:
    return TaskRecord(
        id=task_id,
        spec=TaskSpec(tool="echo", **spec),  # type: ignore[arg-type]
        state=TaskState.QUEUED,
        created_at=T0.wall,
    )


def persists(commands: Sequence[Command]) -> list[Persist]:
    return [c for c in commands if isinstance(c, Persist)]


def sends(commands: Sequence[Command]) -> list[Send]:
    return [c for c in commands if isinstance(c, Send)]


def the_task(commands: Sequence[Command]) -> TaskRecord:
    [persist] = persists(commands)
    return persist.task


def dispatched(
    machine: TaskMachine, *tasks: TaskRecord, agents: Sequence[AgentView] = ()
) -> dict[str, TaskRecord]:
    """Admit the tasks and dispatch them; the ASSIGNED record of each, by id."""
    for task in tasks:
        machine.admit(task)
    commands = machine.dispatch(list(agents) or [agent("a1")], T0)
    return {p.task.id: p.task for p in persists(commands)}


def running(machine: TaskMachine, task: TaskRecord, agent_id: str = "a1") -> TaskRecord:
    [assigned] = dispatched(machine, task, agents=[agent(agent_id)]).values()
    return the_task(machine.accepted(agent_id, assigned.ref, at(0.1)))


def failure(failure_class: FailureClass, *, retry_at: float | None = None) -> Outcome:
    return Outcome(
        ok=False, failure=Failure(failure_class=failure_class, message="no", retry_at=retry_at)
    )


# -- dispatch ---------------------------------------------------------------------------------


def test_dispatch_starts_a_new_attempt_in_a_new_epoch_on_the_agent() -> None:
    machine = TaskMachine()
    machine.admit(queued())
    commands = machine.dispatch([agent("a1")], T0)
    assert [type(c) for c in commands] == [Occupy, Persist, Send]
    occupy, persist, send = commands
    assert occupy == Occupy(agent_id="a1", task_id="t1")
    assert isinstance(persist, Persist)
    assert (persist.task.state, persist.task.attempt, persist.task.epoch) == (
        TaskState.ASSIGNED,
        1,
        1,
    )
    assert persist.expected_epoch == 0  # the write checks the epoch it moves on from
    assert persist.task.agent_id == "a1"
    assert persist.event.data == {"state": "ASSIGNED"} and persist.event.seq == 1
    assert send == Send(agent_id="a1", message=AssignTask(task=persist.task))
    assert not machine.has_queued()


def test_nothing_is_dispatched_without_a_free_slot() -> None:
    machine = TaskMachine()
    machine.admit(queued())
    assert machine.dispatch([agent("a1", slots=1, running=1)], T0) == []
    task = machine.get("t1")
    assert task is not None
    reason = machine.waiting_reason(task, [agent("a1", slots=1, running=1)])
    assert reason == "all slots busy on the 1 eligible agent(s)"


def test_events_get_consecutive_seqs_across_states_and_progress() -> None:
    machine = TaskMachine()
    task = running(machine, queued())
    commands = machine.progress(
        "a1",
        task.ref,
        [Progress(kind="log", message="x", data={}), Progress(kind="", message="y", data={})],
        at(1),
    )
    [record] = commands
    assert isinstance(record, Record)
    assert [(e.seq, e.kind) for e in record.events] == [(3, "log"), (4, "log")]
    done = machine.result("a1", task.ref, Outcome(ok=True, outputs={"n": 1}), at(2))
    assert persists(done)[0].event.seq == 5


# -- fencing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stale",
    [
        {"epoch": 0},  # an epoch the task has moved on from
        {"attempt": 2},  # an attempt that never was
        {"task_id": "other"},
    ],
)
def test_a_stale_result_changes_nothing_and_is_acked_at_once(stale: dict[str, object]) -> None:
    machine = TaskMachine()
    task = running(machine, queued())
    ref = replace(task.ref, **stale)  # type: ignore[arg-type]
    commands = machine.result("a1", ref, Outcome(ok=True), at(1))
    assert persists(commands) == []
    assert Send(agent_id="a1", message=AckResult(ref=ref)) in commands
    assert machine.get("t1") == task


def test_only_the_agent_holding_an_attempt_may_report_on_it() -> None:
    machine = TaskMachine()
    task = running(machine, queued(), agent_id="a1")
    assert machine.accepted("a2", task.ref, at(1)) == []
    assert (
        machine.progress("a2", task.ref, [Progress(kind="log", message="x", data={})], at(1)) == []
    )
    commands = machine.result("a2", task.ref, Outcome(ok=True), at(1))
    assert persists(commands) == []
    assert machine.get("t1") == task  # still running on a1


def test_a_forged_result_for_a_cancelled_attempt_keeps_its_lock_held() -> None:
    # The real holder may still be running under the lock: only its own end frees it.
    machine = TaskMachine()
    task = running(machine, queued(locks=("repo:web",)), agent_id="a1")
    machine.cancel("t1", at(1))
    machine.admit(queued("t2", locks=("repo:web",)))
    machine.result("mallory", task.ref, Outcome(ok=True), at(2))
    assert machine.dispatch([agent("a1"), agent("mallory")], at(2)) == []
    waiting = machine.get("t2")
    assert waiting is not None
    assert machine.waiting_reason(waiting, [agent("a1")]) == "lock repo:web held by task t1"
    machine.result("a1", task.ref, failure(FailureClass.CANCELLED), at(3))
    assert the_task(machine.dispatch([agent("a1")], at(3))).id == "t2"


def test_a_success_is_recorded_then_acked() -> None:
    machine = TaskMachine()
    task = running(machine, queued())
    commands = machine.result("a1", task.ref, Outcome(ok=True, outputs={"n": 1}), at(1))
    assert commands[0] == Free(agent_id="a1", task_id="t1")
    [persist] = persists(commands)
    assert persist.task.state is TaskState.SUCCEEDED and persist.task.outputs == {"n": 1}
    assert persist.then == (Send(agent_id="a1", message=AckResult(ref=task.ref)),)
    assert sends(commands) == []  # the ack waits for the commit
    assert "t1" not in machine


def test_accepted_twice_is_one_transition() -> None:
    machine = TaskMachine()
    task = running(machine, queued())
    assert machine.accepted("a1", task.ref, at(1)) == []


# -- retries per failure class ----------------------------------------------------------------


def test_a_tool_error_waits_for_its_backoff_in_a_new_epoch() -> None:
    machine = TaskMachine()
    task = running(machine, queued())
    waiting = the_task(machine.result("a1", task.ref, failure(FailureClass.TOOL_ERROR), at(1)))
    assert (waiting.state, waiting.epoch) == (TaskState.RETRY_WAIT, task.epoch + 1)
    assert machine.next_ready(at(1).mono) == pytest.approx(at(2).mono)  # 1 s backoff
    assert machine.dispatch([agent("a1")], at(1.5)) == []
    again = the_task(machine.dispatch([agent("a1")], at(2)))
    assert (again.attempt, again.epoch) == (2, task.epoch + 2)


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(max_attempts=10, initial_backoff=1, multiplier=3, max_backoff=5)
    machine = TaskMachine()
    task = running(machine, queued(retry=policy))
    delays = []
    now = at(0)
    for attempt in range(1, 5):
        machine.result("a1", task.ref, failure(FailureClass.TOOL_ERROR), now)
        ready = machine.next_ready(now.mono)
        assert ready is not None
        delays.append(round(ready - now.mono, 3))
        now = Instant(wall=now.wall + (ready - now.mono), mono=ready)
        task = the_task(machine.dispatch([agent("a1")], now))
        assert task.attempt == attempt + 1
    assert delays == [1.0, 3.0, 5.0, 5.0]


@pytest.mark.parametrize(
    "failure_class",
    [FailureClass.INVALID_INPUT, FailureClass.AUTH, FailureClass.CANCELLED],
)
def test_classes_that_would_fail_the_same_way_are_never_retried(
    failure_class: FailureClass,
) -> None:
    machine = TaskMachine()
    task = running(machine, queued())
    ended = the_task(machine.result("a1", task.ref, failure(failure_class), at(1)))
    expected = TaskState.CANCELLED if failure_class is FailureClass.CANCELLED else TaskState.FAILED
    assert ended.state is expected
    assert ended.failure is not None and ended.failure.failure_class is failure_class
    assert "t1" not in machine


def test_the_last_attempt_ends_the_task() -> None:
    machine = TaskMachine()
    task = running(machine, queued(retry=RetryPolicy(max_attempts=1)))
    ended = the_task(machine.result("a1", task.ref, failure(FailureClass.TOOL_ERROR), at(1)))
    assert ended.state is TaskState.FAILED


def test_a_timeout_ends_as_timed_out_after_its_retries() -> None:
    machine = TaskMachine()
    task = running(machine, queued(retry=RetryPolicy(max_attempts=1)))
    ended = the_task(machine.result("a1", task.ref, failure(FailureClass.TIMEOUT), at(1)))
    assert ended.state is TaskState.TIMED_OUT


def ai_agent(name: str, *tools: str) -> AgentView:
    return replace(agent(name), tools=frozenset(tools))


def test_quota_blocks_the_tool_on_its_agent_and_retries_at_once_elsewhere() -> None:
    machine = TaskMachine()
    task = running(machine, queued(), agent_id="a1")
    reset = at(30).wall
    [waiting] = persists(
        machine.result("a1", task.ref, failure(FailureClass.QUOTA, retry_at=reset), at(0))
    )
    assert waiting.event.message == (
        "attempt 1 failed (quota on echo@a1 until 1970-01-12T13:47:10Z);"
        " retrying at once where the quota is left"
    )
    again = the_task(machine.dispatch([agent("a1"), agent("a2")], at(0)))
    assert (again.agent_id, again.attempt) == ("a2", 2)
    assert [(b.agent_id, b.tool, b.until) for b in machine.quota_blocks(at(1).mono)] == [
        ("a1", "echo", reset)
    ]
    assert machine.quota_blocks(at(30).mono) == []


def test_a_task_out_of_quota_everywhere_waits_for_the_reset_without_burning_attempts() -> None:
    machine = TaskMachine()
    task = running(machine, queued(), agent_id="a1")
    reset = at(30).wall
    machine.result("a1", task.ref, failure(FailureClass.QUOTA, retry_at=reset), at(0))
    assert machine.dispatch([agent("a1")], at(1)) == []
    parked = machine.get("t1")
    assert parked is not None and parked.attempt == 1
    assert machine.waiting_reason(parked, [agent("a1")]) == (
        "echo out of quota on all agents until 1970-01-12T13:47:10Z"
    )
    assert machine.next_ready(at(1).mono) == pytest.approx(at(30).mono)
    assert machine.dispatch([agent("a1")], at(29)) == []
    again = the_task(machine.dispatch([agent("a1")], at(30)))
    assert (again.agent_id, again.attempt) == ("a1", 2)


def test_quota_without_a_reset_time_blocks_for_the_default() -> None:
    machine = TaskMachine()
    task = running(machine, queued(), agent_id="a1")
    machine.result("a1", task.ref, failure(FailureClass.QUOTA), at(0))
    assert [b.until for b in machine.quota_blocks(at(0).mono)] == [at(DEFAULT_BLOCK).wall]
    assert machine.dispatch([agent("a1")], at(DEFAULT_BLOCK - 1)) == []
    assert the_task(machine.dispatch([agent("a1")], at(DEFAULT_BLOCK))).attempt == 2


def test_out_of_quota_everywhere_falls_back_to_the_first_fallback_with_quota() -> None:
    schema = '{"type": "object", "properties": {"prompt": {}, "model": {}}}'
    tools = [
        ToolInfo(
            name="gemini-cli",
            actions=(ActionInfo(name="prompt", input_schema_json=schema),),
            default_action="prompt",
        )
    ]
    machine = TaskMachine()
    spec = TaskSpec(
        tool="claude-code",
        action="prompt",
        inputs={"prompt": "hi", "max_turns": 3, "model": "m"},
        fallback=("codex", "gemini-cli", "cursor-agent"),
    )
    machine.admit(replace(queued(), spec=spec))
    fleet = [ai_agent("a1", "claude-code"), ai_agent("a2", "claude-code", "gemini-cli")]
    [assigned] = persists(machine.dispatch(fleet[:1], T0, tools))
    machine.accepted("a1", assigned.task.ref, at(0))
    machine.result(
        "a1", assigned.task.ref, failure(FailureClass.QUOTA, retry_at=at(60).wall), at(1)
    )
    task = the_task(machine.dispatch(fleet, at(1), tools))
    # Another agent with claude-code and quota left comes first.
    assert (task.agent_id, task.spec.tool) == ("a2", "claude-code")
    machine.accepted("a2", task.ref, at(2))
    machine.result("a2", task.ref, failure(FailureClass.QUOTA, retry_at=at(90).wall), at(2))
    [fell_back] = persists(machine.dispatch(fleet, at(3), tools))
    assert fell_back.respec
    assert fell_back.task.spec.tool == "gemini-cli"
    assert fell_back.task.spec.inputs == {"prompt": "hi", "model": "m"}
    assert tuple(fell_back.task.spec.fallback) == ("cursor-agent",)
    assert fell_back.event.data["tool"] == "gemini-cli"
    assert fell_back.event.message == (
        "claude-code out of quota on all agents until 1970-01-12T13:47:40Z;"
        " falling back to gemini-cli: assigned to a2 (attempt 3)"
    )


def test_an_agent_specific_failure_falls_back_to_the_same_agent_when_alone() -> None:
    machine = TaskMachine()
    task = running(machine, queued(), agent_id="a1")
    machine.result("a1", task.ref, failure(FailureClass.TOOL_MISSING), at(0))
    again = the_task(machine.dispatch([agent("a1")], at(5)))
    assert again.agent_id == "a1"


# -- queue timeouts ---------------------------------------------------------------------------


def test_a_task_never_started_times_out_with_the_reason_it_waited() -> None:
    machine = TaskMachine()
    machine.admit(queued(queue_timeout=60.0))
    full = [agent("a1", slots=1, running=1)]
    assert machine.dispatch(full, T0) == []
    assert machine.tick(at(59), present={"a1"}, views=full) == []
    ended = the_task(machine.tick(at(61), present={"a1"}, views=full))
    assert ended.state is TaskState.TIMED_OUT
    assert ended.failure is not None
    assert ended.failure.failure_class is FailureClass.TIMEOUT
    assert ended.failure.message == (
        "not started within 60s: all slots busy on the 1 eligible agent(s)"
    )
    assert not machine.has_queued()


def test_a_retried_task_that_cannot_start_again_times_out_too() -> None:
    # Pinned to an agent that went away: its next attempt can never start.
    machine = TaskMachine()
    task = running(machine, queued(agent="a1", queue_timeout=60.0), agent_id="a1")
    machine.result("a1", task.ref, failure(FailureClass.TOOL_ERROR), at(0))  # backoff 1 s
    others = [agent("a2")]
    assert persists(machine.dispatch(others, at(2))) == []
    assert machine.tick(at(60), present={"a2"}, views=others) == []  # 59 s since it was ready
    ended = the_task(machine.tick(at(61.5), present={"a2"}, views=others))
    assert ended.state is TaskState.TIMED_OUT
    assert ended.failure is not None
    assert ended.failure.message == "not started within 60s: agent a1 is not connected"


# -- cancellation -----------------------------------------------------------------------------


def test_cancelling_a_queued_task_ends_it_at_once() -> None:
    machine = TaskMachine()
    machine.admit(queued())
    commands = machine.cancel("t1", T0)
    assert sends(commands) == []
    ended = the_task(commands)
    assert ended.state is TaskState.CANCELLED and ended.epoch == 1
    assert not machine.has_queued() and "t1" not in machine


def test_cancelling_a_running_task_calls_it_back_and_keeps_its_slot_until_it_ends() -> None:
    machine = TaskMachine(tool_limits={"echo": ToolLimit(concurrency=1)})
    task = running(machine, queued())
    commands = machine.cancel("t1", at(1))
    assert sends(commands) == [
        Send(agent_id="a1", message=CancelAttempt(ref=task.ref, reason="cancelled by a user"))
    ]
    assert the_task(commands).state is TaskState.CANCELLED
    machine.admit(queued("t2"))
    assert machine.dispatch([agent("a1")], at(1)) == []  # the tool's one place is still taken
    end = machine.result("a1", task.ref, failure(FailureClass.CANCELLED), at(2))
    assert persists(end) == []  # the end was already recorded
    assert Free(agent_id="a1", task_id="t1") in end
    assert Send(agent_id="a1", message=AckResult(ref=task.ref)) in end
    assert the_task(machine.dispatch([agent("a1")], at(2))).id == "t2"


def test_a_result_racing_a_cancel_is_stale() -> None:
    machine = TaskMachine()
    task = running(machine, queued())
    machine.cancel("t1", at(1))
    late = machine.result("a1", task.ref, Outcome(ok=True, outputs={"late": True}), at(1.1))
    assert persists(late) == []


def test_cancelling_an_ended_task_is_refused() -> None:
    machine = TaskMachine()
    task = running(machine, queued())
    machine.result("a1", task.ref, Outcome(ok=True), at(1))
    with pytest.raises(KeyError):
        machine.cancel("t1", at(2))


def test_a_cancelled_attempt_whose_agent_is_lost_frees_its_lock() -> None:
    machine = TaskMachine()
    running(machine, queued(locks=("l",)), agent_id="a1")
    machine.cancel("t1", at(1))
    machine.admit(queued("t2", locks=("l",)))
    assert machine.dispatch([agent("a2")], at(1)) == []
    machine.agent_lost("a1", at(2))
    assert the_task(machine.dispatch([agent("a2")], at(2))).id == "t2"


def test_an_abandoned_submission_already_dispatched_is_called_back() -> None:
    machine = TaskMachine()
    [assigned] = dispatched(machine, queued()).values()
    commands = machine.abandon("t1", "its submission could not be recorded")
    assert commands == [
        Send(
            agent_id="a1",
            message=CancelAttempt(ref=assigned.ref, reason="its submission could not be recorded"),
        )
    ]
    assert "t1" not in machine


# -- agents coming and going ------------------------------------------------------------------


def test_a_lost_agent_s_tasks_get_a_new_attempt_elsewhere_at_once() -> None:
    machine = TaskMachine()
    task = running(machine, queued(), agent_id="a1")
    waiting = the_task(machine.agent_lost("a1", at(5)))
    assert waiting.state is TaskState.RETRY_WAIT and waiting.epoch == task.epoch + 1
    assert waiting.failure is not None
    assert waiting.failure.failure_class is FailureClass.AGENT_LOST
    again = the_task(machine.dispatch([agent("a1"), agent("a2")], at(5)))
    assert again.agent_id == "a2"
    late = machine.result("a1", task.ref, Outcome(ok=True), at(6))
    assert persists(late) == []


def test_a_reconnecting_agent_keeps_what_it_still_runs() -> None:
    machine = TaskMachine()
    task = running(machine, queued())
    commands = machine.agent_connected("a1", running=[task.ref], held=[], now=at(3))
    assert commands == [Occupy(agent_id="a1", task_id="t1")]
    assert machine.get("t1") == task


def test_a_reconnecting_agent_holding_the_result_keeps_the_attempt() -> None:
    machine = TaskMachine()
    task = running(machine, queued())
    assert persists(machine.agent_connected("a1", running=[], held=[task.ref], now=at(3))) == []


def test_a_reconnecting_agent_that_forgot_a_task_lost_it() -> None:
    machine = TaskMachine()
    task = running(machine, queued())
    commands = machine.agent_connected("a1", running=[], held=[], now=at(3))
    retried = the_task(commands)
    assert retried.state is TaskState.RETRY_WAIT and retried.epoch == task.epoch + 1
    # The slot it held for the task is free again: the agent can take the retry itself.
    assert Free(agent_id="a1", task_id="t1") in commands


def test_an_attempt_that_is_no_longer_current_is_called_back_on_reconnect() -> None:
    machine = TaskMachine()
    task = running(machine, queued(), agent_id="a1")
    machine.agent_lost("a1", at(1))
    the_task(machine.dispatch([agent("a2")], at(1)))  # now runs on a2
    commands = machine.agent_connected("a1", running=[task.ref], held=[], now=at(2))
    assert commands == [
        Occupy(agent_id="a1", task_id="t1"),  # busy until the old process ends
        Send(
            agent_id="a1",
            message=CancelAttempt(ref=task.ref, reason="attempt is no longer current"),
        ),
    ]


def test_after_a_restart_no_agent_is_judged_before_the_grace_ends() -> None:
    task = replace(queued(), state=TaskState.RUNNING, attempt=1, epoch=4, agent_id="a1")
    machine = TaskMachine(awaited={"a1"}, grace_until=T0.mono + 60)
    machine.load([task], {"t1": 7}, T0)
    assert machine.in_failover(T0.mono + 10)
    assert machine.tick(at(10), present=set(), views=[]) == []
    lost = the_task(machine.tick(at(61), present=set(), views=[]))
    assert lost.state is TaskState.RETRY_WAIT and lost.epoch == 5
    assert persists(machine.tick(at(62), present=set(), views=[])) == []


def test_an_agent_back_within_the_grace_ends_the_failover() -> None:
    machine = TaskMachine(awaited={"a1"}, grace_until=T0.mono + 60)
    assert machine.in_failover(T0.mono)
    machine.agent_connected("a1", running=[], held=[], now=T0)
    assert not machine.in_failover(T0.mono)


def test_loaded_tasks_continue_their_event_seqs_and_hold_their_locks() -> None:
    bound = replace(
        queued("t1", locks=("l",)), state=TaskState.RUNNING, attempt=1, epoch=2, agent_id="a1"
    )
    machine = TaskMachine()
    machine.load([bound, queued("t2", locks=("l",))], {"t1": 7}, T0)
    assert machine.dispatch([agent("a2")], T0) == []  # t1 holds the lock
    done = machine.result("a1", bound.ref, Outcome(ok=True), at(1))
    assert persists(done)[0].event.seq == 8
    assert the_task(machine.dispatch([agent("a2")], at(1))).id == "t2"


def test_refs_compare_by_value() -> None:
    assert AttemptRef(task_id="t", attempt=1, epoch=2) == queued("t").ref.__class__(
        task_id="t", attempt=1, epoch=2
    )


# -- progress caps ----------------------------------------------------------------------------


def events(n: int) -> list[Progress]:
    return [Progress(kind="log", message=f"line {i}", data={}) for i in range(n)]


def recorded(commands: Sequence[Command]) -> list[str]:
    return [e.message for c in commands if isinstance(c, Record) for e in c.events]


def test_events_over_the_per_task_cap_are_dropped_counted_and_said() -> None:
    machine = TaskMachine(limits=Limits(max_events_per_task=5))
    task = running(machine, queued())
    assert recorded(machine.progress("a1", task.ref, events(3), at(1))) == [
        "line 0",
        "line 1",
        "line 2",
    ]
    assert recorded(machine.progress("a1", task.ref, events(4), at(2))) == [
        "line 0",
        "line 1",
        "progress events over the limit max-events-per-task are dropped from here on",
    ]
    assert machine.progress("a1", task.ref, events(100), at(3)) == []  # said once only
    end = the_task_event(machine.result("a1", task.ref, Outcome(ok=True), at(4)))
    assert end.data == {"state": "SUCCEEDED", "dropped_events": 102}


def test_one_agents_events_are_held_to_a_rate_across_its_tasks() -> None:
    machine = TaskMachine(limits=Limits(max_agent_events_per_second=10))
    first = running(machine, queued("t1"))
    second_assigned = dispatched(machine, queued("t2"), agents=[agent("a1")])["t2"]
    assert len(recorded(machine.progress("a1", first.ref, events(8), at(1)))) == 8
    kept = recorded(machine.progress("a1", second_assigned.ref, events(8), at(1)))
    assert kept[:2] == ["line 0", "line 1"] and len(kept) == 3  # 2 kept, then the warning
    assert "max-agent-events-per-second" in kept[2]
    # A second later the budget is back.
    assert len(recorded(machine.progress("a1", first.ref, events(10), at(2)))) == 10


def test_an_agent_over_its_event_budget_is_said_to_be_until_it_keeps_within() -> None:
    machine = TaskMachine(limits=Limits(max_agent_events_per_second=10))
    task = running(machine, queued())
    machine.progress("a1", task.ref, events(10), at(1))
    assert not machine.over_budget("a1")  # the whole budget, not more
    machine.progress("a1", task.ref, events(5), at(1))
    assert machine.over_budget("a1") and not machine.over_budget("a2")
    machine.progress("a1", task.ref, events(5), at(2))  # within the refilled budget
    assert not machine.over_budget("a1")
    machine.progress("a1", task.ref, events(50), at(2))
    machine.agent_lost("a1", at(3))
    assert not machine.over_budget("a1")


def the_task_event(commands: Sequence[Command]) -> TaskEventRecord:
    [persist] = persists(commands)
    return persist.event


# -- an attempt the hub could not send ---------------------------------------------------------


def test_an_undeliverable_attempt_ends_as_its_failure_frees_its_slot_and_acks_nobody() -> None:
    machine = TaskMachine()
    [assigned] = dispatched(machine, queued(locks=("repo",))).values()
    gone = Failure(failure_class=FailureClass.INVALID_INPUT, message="env T: secret gone")
    commands = machine.undeliverable("a1", assigned.ref, gone, at(0.1))
    assert [type(c) for c in commands] == [Free, Persist]
    ended = the_task(commands)
    assert (ended.state, ended.failure, ended.epoch) == (TaskState.FAILED, gone, assigned.epoch)
    assert sends(commands) == [] and persists(commands)[0].then == ()
    # The lock is free again: the next task holding it is placed.
    machine.admit(queued("t2", locks=("repo",)))
    assert persists(machine.dispatch([agent("a1")], at(0.2)))
    # Once ended, or for another agent, it changes nothing.
    assert machine.undeliverable("a1", assigned.ref, gone, at(0.3)) == []
    [other] = dispatched(machine, queued("t3")).values()
    assert machine.undeliverable("a2", other.ref, gone, at(0.4)) == []


# -- budgets ----------------------------------------------------------------------------------


def test_retries_stop_once_the_attempts_have_spent_the_budget() -> None:
    machine = TaskMachine()
    task = running(machine, queued(budget_usd=0.5), agent_id="a1")
    machine.progress("a1", task.ref, [Progress(kind="cost", message="", data={"usd": 0.3})], at(1))
    retried = the_task(machine.result("a1", task.ref, failure(FailureClass.TOOL_ERROR), at(1)))
    assert retried.state is TaskState.RETRY_WAIT  # $0.30 of $0.50
    again = the_task(machine.dispatch([agent("a1")], at(10)))
    machine.accepted("a1", again.ref, at(10))
    spent = Outcome(
        ok=False,
        outputs={"cost_usd": 0.25},
        failure=Failure(failure_class=FailureClass.TOOL_ERROR, message="no"),
    )
    ended = the_task(machine.result("a1", again.ref, spent, at(11)))
    assert ended.state is TaskState.FAILED
    assert ended.failure is not None
    assert ended.failure.message == "no; not retried: budget $0.50 reached: spent $0.55"


def test_a_task_without_a_budget_retries_whatever_it_spent() -> None:
    machine = TaskMachine()
    task = running(machine, queued(), agent_id="a1")
    machine.progress("a1", task.ref, [Progress(kind="cost", message="", data={"usd": 99})], at(1))
    retried = the_task(machine.result("a1", task.ref, failure(FailureClass.TOOL_ERROR), at(1)))
    assert retried.state is TaskState.RETRY_WAIT


def test_a_last_attempt_out_of_quota_still_blocks_the_tool_on_its_agent() -> None:
    machine = TaskMachine()
    task = running(machine, queued(retry=RetryPolicy(max_attempts=1)), agent_id="a1")
    reset = at(30).wall
    ended = the_task(
        machine.result("a1", task.ref, failure(FailureClass.QUOTA, retry_at=reset), at(0))
    )
    assert ended.state is TaskState.FAILED
    assert [(b.agent_id, b.tool, b.until) for b in machine.quota_blocks(at(1).mono)] == [
        ("a1", "echo", reset)
    ]
    # The next task for that tool stays off the agent until the reset.
    machine.admit(queued("t2"))
    assert machine.dispatch([agent("a1")], at(1)) == []
    assert the_task(machine.dispatch([agent("a1")], at(30))).id == "t2"


def test_a_quota_note_names_the_agent_as_people_know_it() -> None:
    machine = TaskMachine()
    machine.admit(queued())
    laptop = replace(agent("01m8agent"), name="laptop")
    [assigned] = [p.task for p in persists(machine.dispatch([laptop], T0))]
    task = the_task(machine.accepted("01m8agent", assigned.ref, at(0.1)))
    outcome = failure(FailureClass.QUOTA, retry_at=at(30).wall)
    [waiting] = persists(machine.result("01m8agent", task.ref, outcome, at(1)))
    assert waiting.event.message.startswith("attempt 1 failed (quota on echo@laptop until ")
