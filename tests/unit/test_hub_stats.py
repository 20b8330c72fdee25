"""HubStats: plain counters with bounded labels, and histograms as Prometheus reads them."""

import pytest

from photon.hub.core import TaskRecord
from photon.hub.stats import OTHER, Histogram, HubStats, outcome
from photon.model import Failure, FailureClass, TaskSpec, TaskState


def ended(tool: str, state: TaskState, failure: FailureClass | None = None) -> TaskRecord:
    return TaskRecord(
        id="t",
        spec=TaskSpec(tool=tool),
        state=state,
        created_at=100.0,
        started_at=101.0,
        finished_at=103.5,
        failure=Failure(failure_class=failure, message="x") if failure else None,
        outputs={"cost_usd": 0.5, "usage": {"input_tokens": 10, "output_tokens": 2}},
    )


def test_histogram_buckets_are_upper_bounds_and_cumulative() -> None:
    histogram = Histogram((1, 5))
    for value in (0.5, 1, 3, 5, 9):
        histogram.observe(value)
    assert histogram.cumulative() == [(1.0, 2), (5.0, 4), (float("inf"), 5)]
    assert (histogram.count, histogram.sum) == (5, 18.5)
    with pytest.raises(ValueError, match="increasing"):
        Histogram((5, 1))


def test_tool_names_past_the_cap_fold_into_other() -> None:
    stats = HubStats(max_tools=2)
    for tool in ("a", "b", "c", "d", "a"):
        stats.task_submitted(tool)
    assert stats.submitted == {"a": 2, "b": 1, OTHER: 2}


def test_an_end_counts_its_outcome_duration_and_spend() -> None:
    stats = HubStats()
    stats.task_finished(ended("claude-code", TaskState.SUCCEEDED))
    stats.task_finished(ended("claude-code", TaskState.FAILED, FailureClass.QUOTA))
    assert stats.finished == {("claude-code", "succeeded"): 1, ("claude-code", "quota"): 1}
    assert stats.durations["claude-code"].sum == 5.0
    assert stats.cost_usd == {"claude-code": 1.0}
    assert stats.tokens[("claude-code", "input")] == 20
    assert stats.tokens[("claude-code", "output")] == 4


def test_outcomes_are_a_fixed_set() -> None:
    assert outcome(ended("x", TaskState.SUCCEEDED)) == "succeeded"
    assert outcome(ended("x", TaskState.CANCELLED, FailureClass.CANCELLED)) == "cancelled"
    assert outcome(ended("x", TaskState.TIMED_OUT, FailureClass.TIMEOUT)) == "timeout"
    assert outcome(ended("x", TaskState.FAILED)) == "failed"
