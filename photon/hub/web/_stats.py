"""Figures the dashboard shows, computed from task records (pure: no clock, no I/O)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ...model import TaskState
from ..core import TaskRecord, usage_of
from ..reports import CostBy, cost_rows


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile (`share` in 0..1) of the values; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def duration(task: TaskRecord) -> float | None:
    if task.started_at is None or task.finished_at is None:
        return None
    return max(0.0, task.finished_at - task.started_at)


def usage(task: TaskRecord) -> tuple[float, int]:
    """What the task's outputs say it cost: US dollars and tokens of every kind."""
    spent = usage_of(task.outputs)
    return spent.cost_usd, sum(spent.tokens().values())


def run_stats(tasks: Iterable[TaskRecord]) -> dict[str, Any]:
    """Runs that ended, their success rate, failures by class, p50/p95 duration, spend."""
    ended = [t for t in tasks if t.state.terminal]
    succeeded = sum(1 for t in ended if t.state is TaskState.SUCCEEDED)
    failures = Counter(
        t.failure.failure_class.value
        for t in ended
        if t.failure is not None and t.state is not TaskState.SUCCEEDED
    )
    durations = [d for t in ended if (d := duration(t)) is not None]
    spent = [usage(t) for t in ended]
    return {
        "runs": len(ended),
        "succeeded": succeeded,
        "success_rate": succeeded / len(ended) if ended else None,
        "failures": dict(failures.most_common()),
        "p50": percentile(durations, 0.5),
        "p95": percentile(durations, 0.95),
        "cost_usd": round(sum(c for c, _ in spent), 6),
        "tokens": sum(n for _, n in spent),
    }


def by(tasks: Iterable[TaskRecord], key: str) -> dict[str, list[TaskRecord]]:
    """The tasks grouped by `tool` or `agent` (the agent of their last attempt)."""
    groups: dict[str, list[TaskRecord]] = defaultdict(list)
    for task in tasks:
        groups[task.spec.tool if key == "tool" else task.agent_id].append(task)
    return dict(groups)


def daily_series(tasks: Iterable[TaskRecord], *, bucket: float = 86400.0) -> list[list[float]]:
    """Spend and tokens per bucket of end time (a day by default): [start, usd, tokens]."""
    buckets: dict[float, list[float]] = {}
    for task in tasks:
        if task.finished_at is None:
            continue
        start = task.finished_at - task.finished_at % bucket
        dollars, tokens = usage(task)
        entry = buckets.setdefault(start, [start, 0.0, 0.0])
        entry[1] += dollars
        entry[2] += tokens
    return [buckets[k] for k in sorted(buckets)]


def cost_table(
    tasks: list[TaskRecord],
    agent_names: Mapping[str, str],
    workflow_names: Mapping[str, str],
    attempt_costs: Mapping[str, Mapping[int, float]] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Spend, tokens and runs by tool, agent, workflow and day (`reports.cost_rows`, with the
    attempts' `cost` events), agents and workflows by name where known."""
    names = {CostBy.AGENT: agent_names, CostBy.WORKFLOW: workflow_names}
    table: dict[str, list[dict[str, Any]]] = {}
    for by in CostBy:
        known = names.get(by, {})
        table[by.value] = [
            {
                "key": f"{known[row.key]} {row.key[-6:]}" if row.key in known else row.key,
                "usd": row.cost_usd,
                "tokens": row.input_tokens
                + row.output_tokens
                + row.cache_read_tokens
                + row.cache_creation_tokens,
                "runs": row.tasks,
            }
            for row in cost_rows(tasks, by=by, attempt_costs=attempt_costs)
        ]
    return table
