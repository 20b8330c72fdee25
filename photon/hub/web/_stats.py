"""Figures the dashboard shows, computed from task records (pure: no clock, no I/O)."""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ...model import TaskState
from ..core import TaskRecord


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
    """What the task's outputs say it cost: US dollars and tokens (0 when they say nothing)."""
    outputs: Mapping[str, Any] = task.outputs or {}
    cost = outputs.get("cost_usd")
    dollars = float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else 0.0
    tokens = 0
    counts = outputs.get("usage")
    if isinstance(counts, Mapping):
        for key, value in counts.items():
            if "token" in str(key) and isinstance(value, int) and not isinstance(value, bool):
                tokens += value
    return dollars, tokens


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
    tasks: list[TaskRecord], agent_names: Mapping[str, str], workflow_names: Mapping[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """Spend, tokens and runs by tool, agent, workflow and day (names where known)."""

    def workflow(task: TaskRecord) -> str:
        workflow_id = task.spec.labels.get("workflow", "")
        if not workflow_id:
            return "(none)"
        name = workflow_names.get(workflow_id)
        return f"{name} {workflow_id[-6:]}" if name else workflow_id

    keys: dict[str, Callable[[TaskRecord], str]] = {
        "tool": lambda t: t.spec.tool,
        "agent": lambda t: agent_names.get(t.agent_id, t.agent_id) or "-",
        "workflow": workflow,
        "day": lambda t: time.strftime("%Y-%m-%d", time.gmtime(t.finished_at or t.created_at)),
    }
    table: dict[str, list[dict[str, Any]]] = {}
    for name, key in keys.items():
        rows: dict[str, dict[str, Any]] = defaultdict(lambda: {"usd": 0.0, "tokens": 0, "runs": 0})
        for task in tasks:
            dollars, tokens = usage(task)
            row = rows[key(task)]
            row["usd"] += dollars
            row["tokens"] += tokens
            row["runs"] += 1
        table[name] = sorted(
            ({"key": k, **v, "usd": round(v["usd"], 6)} for k, v in rows.items()),
            key=lambda r: (-r["usd"], -r["tokens"], r["key"]),
        )
    return table
