"""How `photonctl workflow run` shows a workflow's progress (pure rendering)."""

from __future__ import annotations

import time
from typing import Any

from .._text import escape_controls
from ..client import Workflow, WorkflowStep
from ._output import human_duration, render

COLUMNS = [
    ("step", "id"),
    ("tool", "tool"),
    ("state", "state"),
    ("agent", "agent"),
    ("tasks", "tasks"),
    ("duration", "duration"),
    ("cost", "cost"),
    ("latest", "latest"),
]


def _row(step: WorkflowStep, agents: dict[str, str]) -> dict[str, Any]:
    latest = ""
    if step.state.value == "RUNNING" and step.last_event is not None:
        latest = step.last_event.message.splitlines()[0][:60] if step.last_event.message else ""
    elif step.message:
        latest = step.message[:60]
    return {
        "id": step.id,
        "tool": step.tool,
        "state": step.state.value,
        "agent": ",".join(agents.get(a, a) for a in step.agent_ids) or "-",
        "tasks": f"{step.tasks_done}/{len(step.task_ids)}" if step.task_ids else "-",
        "duration": human_duration(step.duration),
        "cost": f"${step.cost_usd:.4f}" if step.cost_usd else "-",
        "latest": latest or "-",
    }


def _usd(value: float) -> str:
    """Dollars to the cent, or to a hundredth of one below a cent (as the steps' costs are)."""
    return f"${value:.2f}" if value >= 0.01 else f"${value:.4f}"


def table(workflow: Workflow, agents: dict[str, str], *, colour: bool = False) -> str:
    """The whole DAG as a table, headed by the workflow's state (`colour`: states coloured)."""
    header = [f"workflow {workflow.name} ({workflow.id}): {workflow.state.value}"]
    if workflow.message:
        header[0] += f" - {workflow.message}"
    if workflow.spent_usd or workflow.budget_usd:
        spend = f"spent {_usd(workflow.spent_usd)}"
        if workflow.budget_usd:
            spend += f" of a {_usd(workflow.budget_usd)} budget"
        header.append(spend)
    rows = [_row(s, agents) for s in workflow.steps]
    lines = [escape_controls(line) for line in header]
    return "\n".join([*lines, render(rows, "table", columns=COLUMNS, colour=colour)])


def progress_lines(
    previous: Workflow | None, current: Workflow, agents: dict[str, str]
) -> list[str]:
    """One line per step whose state or latest event changed (for logs and pipes), control
    characters escaped."""
    before = {s.id: s for s in previous.steps} if previous else {}
    stamp = time.strftime("%H:%M:%S")
    lines = []
    for step in current.steps:
        old = before.get(step.id)
        row = _row(step, agents)
        if old is None or old.state != step.state:
            where = f" on {row['agent']}" if row["agent"] != "-" else ""
            detail = f": {step.message}" if step.message and step.state.terminal else ""
            lines.append(escape_controls(f"{stamp} {step.id} {step.state.value}{where}{detail}"))
        elif (
            step.last_event is not None
            and (old.last_event is None or old.last_event.seq != step.last_event.seq)
            and step.last_event.message
        ):
            latest = step.last_event.message.splitlines()[0][:100]
            lines.append(escape_controls(f"{stamp} {step.id} | {latest}"))
    return lines
