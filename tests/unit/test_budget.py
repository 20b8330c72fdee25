"""Cost budgets: how spend is summed from what tools report, and the cap a tool is given."""

from __future__ import annotations

import json

import pytest

from photon.errors import InvalidArgumentError
from photon.hub.tasks._budget import Spend, with_budget_input
from photon.hub.workflows._spec import parse_workflow
from photon.model import ActionInfo, TaskSpec, ToolInfo


def test_an_attempt_counts_its_outputs_cost_else_its_cost_events_whenever_they_come() -> None:
    spend = Spend()
    spend.event("t", 1, "cost", {"usd": 0.1})
    spend.event("t", 1, "cost", {"usd": 0.2})
    spend.event("t", 1, "log", {"usd": 5})
    assert spend.total("t") == pytest.approx(0.3)
    assert spend.ended("t", 1, None) == pytest.approx(0.3)
    spend.event("t", 1, "cost", {"usd": 0.1})  # committed after the end was seen
    assert spend.total("t") == pytest.approx(0.4)
    spend.event("t", 2, "cost", {"usd": 0.1})
    assert spend.ended("t", 2, {"cost_usd": 0.05}) == pytest.approx(0.45)  # outputs win
    assert spend.ended("t", 2, {"cost_usd": 9}) == pytest.approx(0.45)  # counted once
    spend.forget("t")
    assert spend.total("t") == 0.0


@pytest.mark.parametrize("bad", [None, "1", True, -3, float("nan"), float("inf")])
def test_what_is_not_an_amount_counts_nothing(bad: object) -> None:
    spend = Spend()
    spend.event("t", 1, "cost", {"usd": bad})
    assert spend.ended("t", 1, {"cost_usd": bad}) == 0.0


def tool(name: str, *properties: str) -> ToolInfo:
    schema = {"type": "object", "properties": {p: {} for p in properties}}
    action = ActionInfo(name="prompt", input_schema_json=json.dumps(schema))
    return ToolInfo(name=name, actions=(action,), default_action="prompt")


def test_the_budget_becomes_the_cap_of_tools_that_take_one() -> None:
    tools = [tool("claude-code", "prompt", "max_budget_usd"), tool("gemini-cli", "prompt")]
    claude = TaskSpec(tool="claude-code", inputs={"prompt": "x"}, budget_usd=0.5)
    assert with_budget_input(claude, tools).inputs == {"prompt": "x", "max_budget_usd": 0.5}
    own = TaskSpec(tool="claude-code", inputs={"max_budget_usd": 0.1}, budget_usd=0.5)
    assert with_budget_input(own, tools).inputs == {"max_budget_usd": 0.1}
    gemini = TaskSpec(tool="gemini-cli", inputs={"prompt": "x"}, budget_usd=0.5)
    assert with_budget_input(gemini, tools) == gemini
    assert with_budget_input(TaskSpec(tool="claude-code"), tools).inputs == {}


@pytest.mark.parametrize("bad", [0, -1, "1", True, float("inf")])
def test_a_workflow_budget_must_be_a_positive_amount(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="workflow budget_usd: must be a positive"):
        parse_workflow({"name": "w", "budget_usd": bad, "steps": [{"id": "a", "tool": "echo"}]})
