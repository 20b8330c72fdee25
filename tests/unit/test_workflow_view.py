"""`workflow show`'s header says what the workflow spent to the cent, or to a hundredth of one
when it spent less than a cent (as each step's cost is shown)."""

from __future__ import annotations

from photon.cli._workflow_view import table
from photon.client import Workflow
from photon.model import WorkflowState


def _workflow(spent: float, budget: float | None = None) -> Workflow:
    return Workflow(
        id="01W",
        name="demo",
        state=WorkflowState.SUCCEEDED,
        inputs={},
        created_at=0.0,
        finished_at=1.0,
        message="",
        steps=(),
        budget_usd=budget,
        spent_usd=spent,
    )


def test_the_spend_of_a_cheap_workflow_is_not_rounded_away() -> None:
    assert table(_workflow(0.0006), {}).splitlines()[1] == "spent $0.0006"


def test_spend_and_budget_to_the_cent() -> None:
    assert table(_workflow(0.6, 0.5), {}).splitlines()[1] == "spent $0.60 of a $0.50 budget"


def test_no_spend_no_line() -> None:
    assert not table(_workflow(0.0), {}).splitlines()[1].startswith("spent")
