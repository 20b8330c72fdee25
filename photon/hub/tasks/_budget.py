"""Cost budgets (pure): what tasks have spent, from what their tools report, and the cap a tool
that takes one is given.

An attempt's spend is its outputs' `cost_usd` when it has one, else the sum of its `cost`
events' `usd` (a failed attempt often has no outputs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from ...model import TaskSpec, ToolInfo
from ..core import usage_of
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
    """A reported amount, read as outputs' `cost_usd` is: 0 for what is not a finite,
    non-negative number."""
    return usage_of({"cost_usd": value}).cost_usd


def budget_reached(budget: float, spent: float) -> str:
    return f"budget ${budget:.2f} reached: spent ${spent:.2f}"


class Spend:
    """What each task has spent, attempt by attempt. An attempt's events count whenever they
    come (before or after its end is known); its outputs' cost, once reported, replaces them."""

    def __init__(self) -> None:
        self._events: dict[str, dict[int, float]] = {}  # task id -> attempt -> events' usd
        self._reported: dict[str, dict[int, float]] = {}  # task id -> attempt -> cost_usd

    def event(self, task_id: str, attempt: int, kind: str, data: Mapping[str, Any]) -> None:
        if kind == "cost":
            attempts = self._events.setdefault(task_id, {})
            attempts[attempt] = attempts.get(attempt, 0.0) + dollars(data.get("usd"))

    def ended(self, task_id: str, attempt: int, outputs: Mapping[str, Any] | None) -> float:
        """Note the attempt's outputs; the task's total."""
        reported = (outputs or {}).get("cost_usd")
        if reported is not None:
            self._reported.setdefault(task_id, {}).setdefault(attempt, dollars(reported))
        return self.total(task_id)

    def total(self, task_id: str) -> float:
        reported = self._reported.get(task_id, {})
        events = self._events.get(task_id, {})
        from_events = sum(usd for attempt, usd in events.items() if attempt not in reported)
        return sum(reported.values()) + from_events

    def forget(self, task_id: str) -> None:
        self._events.pop(task_id, None)
        self._reported.pop(task_id, None)
