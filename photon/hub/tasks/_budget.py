"""Cost budgets (pure): what tasks have spent, from what their tools report, and the cap a tool
that takes one is given.

An attempt's spend is its outputs' `cost_usd` when it has one, else the sum of its `cost`
events' `usd` (a failed attempt often has no outputs).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from ...model import TaskSpec, ToolInfo
from ._validation import input_names, resolve_action

BUDGET_INPUT = "max_budget_usd"  # the input of tools that stop themselves at a spend


def with_budget_input(spec: TaskSpec, tools: Iterable[ToolInfo]) -> TaskSpec:
    """The task with its budget as the tool's `max_budget_usd` input, when the tool takes one
    and the inputs do not set it already."""
    if spec.budget_usd is None or BUDGET_INPUT in spec.inputs:
        return spec
    accepted = input_names(resolve_action(spec, tools)[1])
    if accepted is None or BUDGET_INPUT not in accepted:
        return spec
    return replace(spec, inputs={**spec.inputs, BUDGET_INPUT: spec.budget_usd})


def dollars(value: Any) -> float:
    """A reported amount; 0 for anything that is not a finite, non-negative number."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return max(float(value), 0.0)
    return 0.0


def budget_reached(budget: float, spent: float) -> str:
    return f"budget ${budget:.2f} reached: spent ${spent:.2f}"


class Spend:
    """What each task has spent: its ended attempts, and the cost events of the current one.
    Each attempt counts once, however often its end is reported."""

    def __init__(self) -> None:
        self._settled: dict[str, float] = {}
        self._ended: dict[str, int] = {}  # task id -> the last attempt counted
        self._running: dict[tuple[str, int], float] = {}  # cost events of unended attempts

    def event(self, task_id: str, attempt: int, kind: str, data: Mapping[str, Any]) -> None:
        if kind == "cost" and attempt > self._ended.get(task_id, 0):
            key = (task_id, attempt)
            self._running[key] = self._running.get(key, 0.0) + dollars(data.get("usd"))

    def ended(self, task_id: str, attempt: int, outputs: Mapping[str, Any] | None) -> float:
        """Count the attempt's spend (once); the task's total."""
        if attempt > self._ended.get(task_id, 0):
            from_events = self._running.pop((task_id, attempt), 0.0)
            reported = (outputs or {}).get("cost_usd")
            spent = dollars(reported) if reported is not None else from_events
            self._settled[task_id] = self._settled.get(task_id, 0.0) + spent
            self._ended[task_id] = attempt
        return self.total(task_id)

    def total(self, task_id: str) -> float:
        running = sum(v for (t, _), v in self._running.items() if t == task_id)
        return self._settled.get(task_id, 0.0) + running

    def forget(self, task_id: str) -> None:
        self._settled.pop(task_id, None)
        self._ended.pop(task_id, None)
        for key in [k for k in self._running if k[0] == task_id]:
            del self._running[key]
