"""Cost reports: spend and tokens of ended tasks, grouped, from their outputs and the cost
events of their attempts."""

from dataclasses import replace
from typing import Any

import pytest

from photon.hub.core import NO_USAGE, TaskRecord, Usage, usage_of
from photon.hub.reports import NONE, CostBy, CostRow, cost_rows, day_of, total
from photon.hub.workflows import StepKey
from photon.model import TaskSpec, TaskState

DAY1 = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
DAY2 = DAY1 + 86_400


def ended(
    task_id: str,
    *,
    tool: str = "claude-code",
    agent: str = "ag1",
    workflow: str = "",
    at: float = DAY1 + 60,
    outputs: dict[str, Any] | None = None,
    state: TaskState = TaskState.SUCCEEDED,
) -> TaskRecord:
    key = str(StepKey(workflow_id=workflow, step_id="s", index=0)) if workflow else ""
    return TaskRecord(
        id=task_id,
        spec=TaskSpec(tool=tool, idempotency_key=key),
        state=state,
        created_at=at - 10,
        agent_id=agent,
        outputs=outputs,
        finished_at=at,
    )


def spent(usd: float, inp: int = 0, out: int = 0, **more: int) -> dict[str, Any]:
    return {"cost_usd": usd, "usage": {"input_tokens": inp, "output_tokens": out, **more}}


RECORDS = [
    ended("t1", outputs=spent(0.5, 100, 10, cache_read_input_tokens=1000), workflow="W1"),
    ended("t2", outputs=spent(0.25, 50, 5), agent="ag2", workflow="W1", at=DAY2 + 5),
    ended("t3", tool="echo", outputs={"text": "hi"}),
    ended("t4", tool="gemini-cli", outputs={"cost_usd": None, "usage": {"input_tokens": 70}}),
    ended("t5", tool="echo", agent="", state=TaskState.CANCELLED, at=DAY2 + 7),
]


def test_by_tool_the_costliest_first() -> None:
    assert cost_rows(RECORDS, by=CostBy.TOOL) == [
        CostRow(
            key="claude-code",
            tasks=2,
            cost_usd=0.75,
            input_tokens=150,
            output_tokens=15,
            cache_read_tokens=1000,
        ),
        CostRow(key="echo", tasks=2),
        CostRow(key="gemini-cli", tasks=1, input_tokens=70),
    ]


def test_by_agent_workflow_and_day() -> None:
    by_agent = {r.key: (r.tasks, r.cost_usd) for r in cost_rows(RECORDS, by=CostBy.AGENT)}
    assert by_agent == {"ag1": (3, 0.5), "ag2": (1, 0.25), NONE: (1, 0.0)}
    by_workflow = {r.key: (r.tasks, r.cost_usd) for r in cost_rows(RECORDS, by=CostBy.WORKFLOW)}
    assert by_workflow == {"W1": (2, 0.75), NONE: (3, 0.0)}
    days = cost_rows(RECORDS, by=CostBy.DAY)
    assert [(r.key, r.tasks, r.cost_usd) for r in days] == [
        ("2026-01-01", 3, 0.5),
        ("2026-01-02", 2, 0.25),
    ]


def test_since_leaves_out_what_ended_before() -> None:
    rows = cost_rows(RECORDS, by=CostBy.TOOL, since=DAY2)
    assert [(r.key, r.tasks, r.cost_usd) for r in rows] == [
        ("claude-code", 1, 0.25),
        ("echo", 1, 0.0),
    ]
    assert cost_rows(RECORDS, by=CostBy.TOOL, since=DAY2 + 8) == []


def test_unfinished_tasks_do_not_count() -> None:
    running = TaskRecord(
        id="r", spec=TaskSpec(tool="claude-code"), state=TaskState.RUNNING, created_at=DAY1
    )
    assert cost_rows([running], by=CostBy.TOOL) == []


def test_total_adds_every_row_up() -> None:
    assert total(cost_rows(RECORDS, by=CostBy.AGENT)) == CostRow(
        key="total",
        tasks=5,
        cost_usd=0.75,
        input_tokens=220,
        output_tokens=15,
        cache_read_tokens=1000,
    )
    assert total([]) == CostRow(key="total")


def test_sums_of_cents_read_as_cents() -> None:
    records = [ended(f"t{i}", outputs={"cost_usd": 0.1}) for i in range(3)]
    assert cost_rows(records, by=CostBy.TOOL)[0].cost_usd == 0.3


@pytest.mark.parametrize(
    "outputs",
    [
        None,
        {},
        {"cost_usd": True, "usage": {"input_tokens": True}},
        {"cost_usd": "1.5", "usage": "lots"},
        {"cost_usd": -2.0, "usage": {"input_tokens": -5, "output_tokens": 2.5}},
        {"cost_usd": float("nan")},
        {"cost_usd": float("inf")},
    ],
)
def test_what_is_no_amount_counts_as_nothing(outputs: dict[str, Any] | None) -> None:
    assert usage_of(outputs) is NO_USAGE


def test_usage_of_reads_every_token_kind() -> None:
    usage = usage_of(
        spent(1.25, 3, 4, cache_read_input_tokens=5, cache_creation_input_tokens=6, total_tokens=99)
    )
    assert usage == Usage(
        cost_usd=1.25,
        input_tokens=3,
        output_tokens=4,
        cache_read_tokens=5,
        cache_creation_tokens=6,
    )
    assert usage.tokens() == {"input": 3, "output": 4, "cache_read": 5, "cache_creation": 6}


def test_codex_cache_tokens_count_as_cache_reads_and_writes() -> None:
    counts = {
        "input_tokens": 9,
        "cached_input_tokens": 4,
        "cache_write_input_tokens": 2,
        "output_tokens": 1,
    }
    usage = usage_of({"usage": counts})
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (9, 4, 1)
    assert usage.cache_creation_tokens == 2


def test_day_of_is_the_utc_date() -> None:
    assert day_of(DAY1) == "2026-01-01"
    assert day_of(DAY2 - 1) == "2026-01-01"


def test_every_attempt_counts_not_only_the_last() -> None:
    # Attempts 1 and 2 failed after spending (cost events); attempt 3 reported its own cost,
    # which stands for its events.
    retried = replace(ended("t1", outputs=spent(0.25)), attempt=3)
    costs = {"t1": {1: 0.5, 2: 0.125, 3: 0.2}}
    [row] = cost_rows([retried], by=CostBy.TOOL, attempt_costs=costs)
    assert row.cost_usd == 0.875
    assert cost_rows([retried], by=CostBy.TOOL)[0].cost_usd == 0.25  # its outputs alone


def test_a_failed_last_attempt_counts_its_cost_events() -> None:
    failed = replace(ended("t1", outputs=None, state=TaskState.FAILED), attempt=2)
    [row] = cost_rows([failed], by=CostBy.TOOL, attempt_costs={"t1": {1: 0.3, 2: 0.3}})
    assert row.cost_usd == 0.6
