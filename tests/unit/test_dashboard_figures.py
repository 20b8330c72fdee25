"""The dashboard's figures from task records, and its utilisation ring (pure)."""

from __future__ import annotations

from photon.hub.core import AgentView, TaskRecord
from photon.hub.web._samples import UtilisationRing
from photon.hub.web._stats import cost_table, percentile, run_stats
from photon.model import Failure, FailureClass, TaskSpec, TaskState

DAY = 86400.0


def _task(
    n: int, state: TaskState, seconds: float, *, usd: float = 0.0, tokens: int = 0, **spec: str
) -> TaskRecord:
    failure = (
        Failure(failure_class=FailureClass.TIMEOUT, message="slow")
        if state is TaskState.FAILED
        else None
    )
    return TaskRecord(
        id=f"t{n}",
        spec=TaskSpec(tool=spec.get("tool", "echo"), labels=spec.get("labels", {})),  # type: ignore[arg-type]
        state=state,
        created_at=10 * DAY,
        agent_id=spec.get("agent", "a1"),
        started_at=10 * DAY + n,
        finished_at=10 * DAY + n + seconds,
        outputs={"cost_usd": usd, "usage": {"input_tokens": tokens, "output_tokens": 1}},
        failure=failure,
    )


def test_percentiles_are_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 0.95) == 95.0


def test_run_stats_count_ended_runs_their_failures_durations_and_spend() -> None:
    tasks = [
        _task(1, TaskState.SUCCEEDED, 1.0, usd=0.5, tokens=10),
        _task(2, TaskState.SUCCEEDED, 3.0, usd=0.25),
        _task(3, TaskState.FAILED, 10.0),
        _task(4, TaskState.SUCCEEDED, 2.0),
    ]
    stats = run_stats(tasks)
    assert stats["runs"] == 4 and stats["success_rate"] == 0.75
    assert stats["failures"] == {"timeout": 1}
    assert (stats["p50"], stats["p95"]) == (2.0, 10.0)
    assert stats["cost_usd"] == 0.75 and stats["tokens"] == 14


def test_cost_table_groups_with_names() -> None:
    tasks = [
        _task(1, TaskState.SUCCEEDED, 1.0, usd=2.0, tool="claude-code", agent="a1"),
        _task(2, TaskState.SUCCEEDED, 1.0, usd=1.0, tool="claude-code", agent="a2"),
        _task(3, TaskState.SUCCEEDED, 1.0, tool="shell", agent="a2"),
    ]
    table = cost_table(tasks, {"a1": "laptop"}, {})
    assert [(r["key"], r["usd"], r["runs"]) for r in table["tool"]] == [
        ("claude-code", 3.0, 2),
        ("shell", 0.0, 1),
    ]
    assert [r["key"] for r in table["agent"]] == ["laptop a1", "a2"]
    assert [r["key"] for r in table["day"]] == ["1970-01-11"]


def _view(agent_id: str, running: int) -> AgentView:
    return AgentView(
        id=agent_id,
        name=agent_id,
        labels={},
        tools=frozenset(),
        disabled_tools=frozenset(),
        slots=4,
        running=running,
        accepting=True,
        cpu_percent=50.0,
    )


def test_the_ring_keeps_the_newest_samples_of_the_newest_agents() -> None:
    ring = UtilisationRing(samples=3, max_agents=2)
    for second in range(5):
        ring.sample([_view("a", second % 5)], float(second))
    assert [s.time for s in ring.of("a")] == [2.0, 3.0, 4.0]
    assert ring.of("a")[-1].busy == 1.0
    ring.sample([_view("b", 0)], 5.0)
    ring.sample([_view("c", 0)], 6.0)
    assert ring.of("a") == [] and len(ring.of("c")) == 1
