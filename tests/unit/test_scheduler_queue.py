from collections import Counter
from collections.abc import Mapping

import pytest

from photon.hub.core import AgentView
from photon.hub.tasks import Assignment, Scheduler, ToolLimit
from photon.model import TaskSpec


def agent(
    name: str,
    *,
    tools: tuple[str, ...] = ("echo",),
    slots: int = 4,
    running: int = 0,
    accepting: bool = True,
) -> AgentView:
    return AgentView(
        id=f"id-{name}",
        name=name,
        labels={},
        tools=frozenset(tools),
        disabled_tools=frozenset(),
        slots=slots,
        running=running,
        accepting=accepting,
    )


ECHO = TaskSpec(tool="echo")
WEB = TaskSpec(tool="echo", locks=("repo:web",))
NOW = 1000.0


def task_ids(assignments: list[Assignment]) -> list[str]:
    return [a.task_id for a in assignments]


def agent_ids(assignments: list[Assignment]) -> list[str]:
    return [a.agent_id for a in assignments]


def queue(
    *task_ids: str, spec: TaskSpec = ECHO, limits: Mapping[str, ToolLimit] | None = None
) -> Scheduler:
    scheduler = Scheduler(limits=limits)
    for task_id in task_ids:
        scheduler.enqueue(task_id, spec)
    return scheduler


# -- order --------------------------------------------------------------------------------------


def test_higher_priority_first_then_fifo() -> None:
    scheduler = Scheduler()
    for task_id, priority in [("low", 0), ("mid1", 5), ("high", 9), ("mid2", 5), ("low2", 0)]:
        scheduler.enqueue(task_id, TaskSpec(tool="echo", priority=priority))
    placed = scheduler.schedule([agent("a", slots=10)], NOW)
    assert task_ids(placed) == ["high", "mid1", "mid2", "low", "low2"]


def test_one_slot_goes_to_the_highest_priority_each_round() -> None:
    scheduler = Scheduler()
    scheduler.enqueue("low", TaskSpec(tool="echo", priority=0))
    scheduler.enqueue("mid", TaskSpec(tool="echo", priority=5))
    scheduler.enqueue("high", TaskSpec(tool="echo", priority=9))
    order = []
    for _ in range(3):
        [assignment] = scheduler.schedule([agent("a", slots=1)], NOW)
        order.append(assignment.task_id)
        scheduler.release(assignment.task_id)
    assert order == ["high", "mid", "low"]


def test_requeued_task_goes_behind_its_priority_peers() -> None:
    scheduler = queue("first", "second")
    scheduler.enqueue("first", ECHO)  # a retry arrives again
    assert len(scheduler) == 2
    assert task_ids(scheduler.schedule([agent("a")], NOW)) == ["second", "first"]


# -- slots and spreading ------------------------------------------------------------------------


def test_places_as_many_as_there_are_free_slots() -> None:
    scheduler = queue("t1", "t2", "t3", "t4", "t5")
    fleet = [agent("a", slots=2, running=1), agent("b", slots=2, running=0)]
    placed = scheduler.schedule(fleet, NOW)
    assert task_ids(placed) == ["t1", "t2", "t3"]
    # Running counts grow within the call: b is not handed three tasks for its two slots.
    assert Counter(agent_ids(placed)) == {"id-a": 1, "id-b": 2}
    assert len(scheduler) == 2
    assert "t4" in scheduler and "t5" in scheduler


def test_nothing_is_placed_when_every_slot_is_busy() -> None:
    scheduler = queue("t1")
    assert scheduler.schedule([agent("a", slots=2, running=2)], NOW) == []
    assert "t1" in scheduler


def test_equal_agents_take_turns_across_calls() -> None:
    scheduler = Scheduler()
    fleet = [agent("a"), agent("b"), agent("c")]
    chosen = []
    for n in range(6):
        scheduler.enqueue(f"t{n}", ECHO)
        # The caller's snapshot does not change, so only the scheduler can spread the work.
        chosen += agent_ids(scheduler.schedule(fleet, NOW + n))
    assert chosen == ["id-a", "id-b", "id-c", "id-a", "id-b", "id-c"]


def test_equal_agents_take_turns_within_one_call() -> None:
    scheduler = queue("t1", "t2", "t3", "t4")
    placed = scheduler.schedule([agent("a"), agent("b")], NOW)
    assert agent_ids(placed) == ["id-a", "id-b", "id-a", "id-b"]


def test_draining_agents_get_nothing() -> None:
    scheduler = queue("t1", "t2", "t3")
    fleet = [agent("draining", slots=8, accepting=False), agent("open", slots=1)]
    assert agent_ids(scheduler.schedule(fleet, NOW)) == ["id-open"]
    assert scheduler.schedule([agent("draining", slots=8, accepting=False)], NOW) == []
    assert len(scheduler) == 2


# -- mesh-wide locks ----------------------------------------------------------------------------


def test_tasks_sharing_a_lock_never_run_together() -> None:
    scheduler = queue("first", "second", spec=WEB)
    fleet = [agent("a"), agent("b")]
    assert task_ids(scheduler.schedule(fleet, NOW)) == ["first"]
    assert scheduler.reason("second") == "lock repo:web held by task first"
    assert scheduler.schedule(fleet, NOW + 1) == []
    scheduler.release("first")
    assert task_ids(scheduler.schedule(fleet, NOW + 2)) == ["second"]


def test_a_waiting_lock_does_not_block_other_work() -> None:
    scheduler = queue("first", "second", spec=WEB)
    scheduler.enqueue("free", ECHO)
    assert task_ids(scheduler.schedule([agent("a")], NOW)) == ["first", "free"]


def test_a_task_with_two_locks_needs_both() -> None:
    scheduler = Scheduler()
    scheduler.enqueue("x", TaskSpec(tool="echo", locks=("x",)))
    fleet = [agent("a")]
    assert task_ids(scheduler.schedule(fleet, NOW)) == ["x"]
    scheduler.enqueue("both", TaskSpec(tool="echo", locks=("x", "y")))
    scheduler.enqueue("y", TaskSpec(tool="echo", locks=("y",)))
    # "both" waits for x without taking y, so "y" can run meanwhile.
    assert task_ids(scheduler.schedule(fleet, NOW)) == ["y"]
    assert scheduler.reason("both") == "lock x held by task x"
    scheduler.release("x")
    assert scheduler.schedule(fleet, NOW) == []
    assert scheduler.reason("both") == "lock y held by task y"
    scheduler.release("y")
    assert task_ids(scheduler.schedule(fleet, NOW)) == ["both"]
    # And now it holds both.
    scheduler.enqueue("x2", TaskSpec(tool="echo", locks=("x",)))
    scheduler.enqueue("y2", TaskSpec(tool="echo", locks=("y",)))
    assert scheduler.schedule(fleet, NOW) == []
    assert scheduler.reason("x2") == "lock x held by task both"
    assert scheduler.reason("y2") == "lock y held by task both"


def test_releasing_twice_or_an_unknown_task_is_harmless() -> None:
    scheduler = queue("first", "second", spec=WEB)
    fleet = [agent("a")]
    scheduler.schedule(fleet, NOW)
    scheduler.release("first")
    scheduler.release("first")
    scheduler.release("never-seen")
    assert task_ids(scheduler.schedule(fleet, NOW)) == ["second"]
    scheduler.enqueue("third", WEB)
    assert scheduler.schedule(fleet, NOW) == []
    assert scheduler.reason("third") == "lock repo:web held by task second"


def test_a_held_task_blocks_its_lock() -> None:
    scheduler = Scheduler()
    # Running since before a hub restart: never queued here, but it owns the lock.
    scheduler.hold("old", WEB)
    scheduler.enqueue("new", WEB)
    fleet = [agent("a")]
    assert scheduler.schedule(fleet, NOW) == []
    assert scheduler.reason("new") == "lock repo:web held by task old"
    scheduler.release("old")
    assert task_ids(scheduler.schedule(fleet, NOW)) == ["new"]


# -- tool limits --------------------------------------------------------------------------------


def test_tool_concurrency_limit() -> None:
    scheduler = queue("t1", "t2", "t3", limits={"echo": ToolLimit(concurrency=2)})
    scheduler.enqueue("other", TaskSpec(tool="shell"))
    fleet = [agent("a", tools=("echo", "shell"), slots=10)]
    assert task_ids(scheduler.schedule(fleet, NOW)) == ["t1", "t2", "other"]
    assert scheduler.reason("t3") == "tool echo is at its concurrency limit (2)"
    assert scheduler.schedule(fleet, NOW) == []
    scheduler.release("t2")
    assert task_ids(scheduler.schedule(fleet, NOW)) == ["t3"]


def test_held_tasks_count_against_the_concurrency_limit() -> None:
    scheduler = queue("t1", limits={"echo": ToolLimit(concurrency=1)})
    scheduler.hold("old", ECHO)
    assert scheduler.schedule([agent("a")], NOW) == []
    assert scheduler.reason("t1") == "tool echo is at its concurrency limit (1)"
    scheduler.release("old")
    assert task_ids(scheduler.schedule([agent("a")], NOW)) == ["t1"]


def test_tool_rate_limit_starts_one_task_per_half_second() -> None:
    scheduler = queue("t1", "t2", "t3", limits={"echo": ToolLimit(rate=2.0, burst=1)})
    fleet = [agent("a", slots=10)]
    started = {}
    for step in range(5):
        now = NOW + step * 0.25
        for assignment in scheduler.schedule(fleet, now):
            started[assignment.task_id] = now
    assert started == {"t1": NOW, "t2": NOW + 0.5, "t3": NOW + 1.0}


def test_rate_limit_reason_and_burst_cap() -> None:
    scheduler = queue("t1", "t2", "t3", limits={"echo": ToolLimit(rate=2.0, burst=1)})
    fleet = [agent("a", slots=10)]
    assert task_ids(scheduler.schedule(fleet, NOW)) == ["t1"]
    assert scheduler.reason("t2") == "tool echo is at its rate limit (2/s)"
    # A long idle period refills the bucket only up to the burst.
    assert task_ids(scheduler.schedule(fleet, NOW + 100)) == ["t2"]
    assert scheduler.reason("t3") == "tool echo is at its rate limit (2/s)"


# -- retry backoff and avoidance ----------------------------------------------------------------


def test_backed_off_task_waits_until_ready_at() -> None:
    scheduler = Scheduler()
    scheduler.enqueue("t", ECHO, ready_at=NOW + 5)
    fleet = [agent("a")]
    assert scheduler.schedule(fleet, NOW) == []
    assert scheduler.reason("t") == "retrying in 5.0s"
    assert scheduler.next_ready(NOW) == NOW + 5
    assert scheduler.schedule(fleet, NOW + 4.9) == []
    assert scheduler.reason("t") == "retrying in 0.1s"
    assert task_ids(scheduler.schedule(fleet, NOW + 5.01)) == ["t"]
    assert scheduler.next_ready(NOW + 5.01) is None


def test_next_ready_is_the_earliest_future_time() -> None:
    scheduler = Scheduler()
    assert scheduler.next_ready(NOW) is None
    scheduler.enqueue("ready", ECHO)
    scheduler.enqueue("later", ECHO, ready_at=NOW + 9)
    scheduler.enqueue("sooner", ECHO, ready_at=NOW + 3)
    assert scheduler.next_ready(NOW) == NOW + 3
    assert scheduler.next_ready(NOW + 3) == NOW + 9


def test_backed_off_task_does_not_hold_up_the_queue() -> None:
    scheduler = Scheduler()
    scheduler.enqueue("urgent-retry", TaskSpec(tool="echo", priority=9), ready_at=NOW + 5)
    scheduler.enqueue("normal", ECHO)
    assert task_ids(scheduler.schedule([agent("a", slots=1)], NOW)) == ["normal"]


def test_avoided_agent_is_skipped_when_another_fits() -> None:
    scheduler = Scheduler()
    scheduler.enqueue("t", ECHO, avoid=frozenset({"id-a"}))
    # a comes first and would win the tie otherwise.
    assert agent_ids(scheduler.schedule([agent("a"), agent("b")], NOW)) == ["id-b"]


@pytest.mark.parametrize(
    "fleet",
    [
        [agent("a")],
        [agent("a"), agent("b", slots=1, running=1)],
        [agent("a"), agent("b", accepting=False)],
        [agent("a"), agent("b", tools=("shell",))],
    ],
)
def test_avoided_agent_is_used_when_it_is_the_only_one(fleet: list[AgentView]) -> None:
    scheduler = Scheduler()
    scheduler.enqueue("t", ECHO, avoid=frozenset({"id-a"}))
    assert agent_ids(scheduler.schedule(fleet, NOW)) == ["id-a"]


# -- queue bookkeeping --------------------------------------------------------------------------


def test_dequeue() -> None:
    scheduler = queue("t1", "t2")
    assert scheduler.dequeue("t1") is True
    assert scheduler.dequeue("t1") is False
    assert scheduler.dequeue("never-seen") is False
    assert "t1" not in scheduler
    assert task_ids(scheduler.schedule([agent("a")], NOW)) == ["t2"]


def test_reason_when_no_agent_has_the_tool() -> None:
    scheduler = queue("t")
    assert scheduler.reason("t") == ""
    assert scheduler.schedule([agent("a", tools=("shell",))], NOW) == []
    assert scheduler.reason("t") == "no connected agent has the tool 'echo'"
    assert scheduler.reason("unknown") == ""


def test_reason_is_forgotten_once_placed_or_dequeued() -> None:
    scheduler = queue("placed", "dropped", spec=TaskSpec(tool="echo", agent="id-b"))
    scheduler.schedule([agent("a")], NOW)
    assert scheduler.reason("placed") == "agent id-b is not connected"
    scheduler.schedule([agent("b")], NOW)
    assert scheduler.reason("placed") == ""
    scheduler.dequeue("dropped")
    assert scheduler.reason("dropped") == ""


def test_len_and_contains() -> None:
    scheduler = Scheduler()
    assert len(scheduler) == 0
    assert "t1" not in scheduler
    scheduler.enqueue("t1", ECHO)
    scheduler.enqueue("t2", ECHO)
    scheduler.enqueue("t1", ECHO)  # enqueueing again does not duplicate
    assert len(scheduler) == 2
    assert "t1" in scheduler
    assert 42 not in scheduler
    # Re-enqueued, t1 went behind t2.
    assert task_ids(scheduler.schedule([agent("a", slots=1)], NOW)) == ["t2"]
    assert len(scheduler) == 1
    assert "t2" not in scheduler  # placed: now it is running, not queued
    assert "t1" in scheduler


def test_large_queue_two_per_call_each_task_once_in_order() -> None:
    ids = [f"t{n:05d}" for n in range(10_000)]
    scheduler = queue(*ids)
    fleet = [agent("a", slots=1), agent("b", slots=1)]
    order: list[str] = []
    calls = 0
    while len(scheduler):
        placed = scheduler.schedule(fleet, NOW + calls)
        calls += 1
        assert len(placed) == 2
        assert sorted(agent_ids(placed)) == ["id-a", "id-b"]
        order += task_ids(placed)
        for assignment in placed:
            scheduler.release(assignment.task_id)
    assert calls == 5_000
    assert order == ids
    assert scheduler.schedule(fleet, NOW + calls) == []


def test_tasks_that_cannot_be_placed_all_get_the_reason_and_others_still_go() -> None:
    scheduler = Scheduler()
    for i in range(3):
        scheduler.enqueue(f"gpu{i}", TaskSpec(tool="gpu"))
    scheduler.enqueue("pinned", TaskSpec(tool="echo", agent="b"))
    scheduler.enqueue("echo", ECHO)
    placed = scheduler.schedule([agent("a", slots=2)], NOW)
    assert task_ids(placed) == ["echo"]
    assert {scheduler.reason(f"gpu{i}") for i in range(3)} == {
        "no connected agent has the tool 'gpu'"
    }
    assert scheduler.reason("pinned") == "agent b is not connected"


def test_an_empty_queue_places_nothing() -> None:
    assert Scheduler().schedule([agent("a")], NOW) == []
