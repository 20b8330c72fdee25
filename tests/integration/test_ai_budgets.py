"""Cost budgets through a real hub and agent running the fake claude, whose runs report the
cost PHOTON_FAKE_COST sets: a task stops retrying, a workflow stops starting steps."""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from .harness import Mesh

FAKES = Path(__file__).resolve().parents[1] / "fakes"


def claude_env(scenario: str, cost: float, **extra: str) -> dict[str, str]:
    return {
        "PATH": f"{FAKES}{os.pathsep}{os.environ['PATH']}",
        "PHOTON_FAKE_SCENARIO": scenario,
        "PHOTON_FAKE_COST": str(cost),
        **extra,
    }


async def test_a_task_stops_retrying_once_its_budget_is_spent(mesh: Mesh, tmp_path: Path) -> None:
    argv = tmp_path / "argv.json"
    # max_turns: each attempt fails (tool_error, retried) after spending $0.30.
    await mesh.agent("ai", env=claude_env("max_turns", 0.3, PHOTON_FAKE_ARGV_FILE=str(argv)))
    run = mesh.ctl(
        "run", "claude-code", "--input", "prompt=fix it", "--budget-usd", "0.5", "-o", "json"
    )
    assert run.returncode == 1, run.stderr
    task = json.loads(run.stdout)
    assert (task["state"], task["attempt"]) == ("FAILED", 2), task  # of 3 allowed
    assert task["failure"]["message"].endswith("not retried: budget $0.50 reached: spent $0.60")
    assert task["budget_usd"] == 0.5
    assert task["inputs"]["max_budget_usd"] == 0.5
    args = json.loads(argv.read_text())
    assert args[args.index("--max-budget-usd") + 1] == "0.5"
    # The cost report counts both failed attempts' spend, not only what the task ended with.
    report = mesh.ctl("report", "cost", "-o", "json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["total"]["cost_usd"] == 0.6

    refused = mesh.ctl("run", "claude-code", "--input", "prompt=x", "--budget-usd", "-1")
    assert refused.returncode == 2
    assert "--budget-usd must be a positive number of dollars" in refused.stderr


async def test_a_workflow_starts_no_step_once_its_budget_is_spent(
    mesh: Mesh, tmp_path: Path
) -> None:
    await mesh.agent("ai", env=claude_env("success", 0.3))
    document = {
        "name": "costly",
        "budget_usd": 5,  # the flag below wins
        "steps": [
            {"id": "one", "tool": "claude-code", "inputs": {"prompt": "1"}},
            {"id": "two", "tool": "claude-code", "needs": ["one"], "inputs": {"prompt": "2"}},
            {"id": "three", "tool": "claude-code", "needs": ["two"], "inputs": {"prompt": "3"}},
        ],
    }
    path = tmp_path / "costly.yaml"
    path.write_text(yaml.safe_dump(document))
    run = mesh.ctl("workflow", "run", str(path), "--budget-usd", "0.5", "-o", "json", timeout=90)
    assert run.returncode == 1, run.stderr
    workflow = json.loads(run.stdout)
    assert workflow["state"] == "FAILED"
    assert workflow["message"] == "budget $0.50 reached: spent $0.60"
    assert workflow["spent_usd"] == 0.6
    states = {s["id"]: s["state"] for s in workflow["steps"]}
    assert states == {"one": "SUCCEEDED", "two": "SUCCEEDED", "three": "SKIPPED"}

    shown = mesh.ctl("workflow", "show", workflow["id"])
    assert shown.returncode == 0, shown.stderr
    assert "spent $0.60 of a $0.50 budget" in shown.stdout
