"""`photonctl report cost` through a real hub: a workflow of cost-reporting AI steps and tasks
beside it, grouped every way, in every format."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest
import yaml

from photon.errors import InvalidArgumentError

from .harness import Mesh
from .test_adapters_claude_gemini import fake_env

RUN_COST = 0.0123  # what the fake claude reports for each run, with these tokens
RUN_TOKENS = {"input": 1200, "output": 340, "cache_read": 15000, "cache_creation": 2000}


def report(mesh: Mesh, *args: str, env: dict[str, str] | None = None) -> str:
    ran = mesh.run("-m", "photon.cli.ctl", "report", "cost", *args, env=env or mesh.env)
    assert ran.returncode == 0, ran.stderr
    return ran.stdout


def as_json(mesh: Mesh, by: str) -> dict[str, object]:
    data = json.loads(report(mesh, "--by", by, "-o", "json"))
    assert isinstance(data, dict)
    return data


async def test_cost_report_groups_a_workflows_spend(mesh: Mesh, tmp_path: Path) -> None:
    await mesh.agent("ai", env=fake_env("success"))
    document = {
        "name": "review",
        "steps": [
            {"id": "plan", "tool": "claude-code", "inputs": {"prompt": "plan it"}},
            {"id": "do", "tool": "claude-code", "needs": "plan", "inputs": {"prompt": "do it"}},
            {"id": "note", "tool": "echo", "needs": "do", "inputs": {"text": "done"}},
        ],
    }
    path = tmp_path / "review.yaml"
    path.write_text(yaml.safe_dump(document))
    ran = mesh.ctl("workflow", "run", str(path), "-o", "json")
    assert ran.returncode == 0, ran.stderr
    workflow = json.loads(ran.stdout)
    assert workflow["state"] == "SUCCEEDED"
    steps = {s["id"]: s["cost_usd"] for s in workflow["steps"]}
    assert steps == {"plan": RUN_COST, "do": RUN_COST, "note": 0}
    async with mesh.client() as client:
        alone = [
            await client.run("claude-code", inputs={"prompt": "alone"}),
            await client.run("echo", inputs={"text": "alone"}),
        ]
        assert [t.state.value for t in alone] == ["SUCCEEDED", "SUCCEEDED"]
        agent_id = alone[0].agent_id
        days = {time.strftime("%Y-%m-%d", time.gmtime(t.finished_at or 0)) for t in alone}

        # The client refuses a grouping it does not know; the hub, a time not in the past.
        with pytest.raises(InvalidArgumentError, match="group a cost report by 'week'"):
            await client.report_cost(since=0, by="week")
        with pytest.raises(InvalidArgumentError, match="since must be a Unix time in the past"):
            await client.report_cost(since=time.time() + 3600)

    def cost(runs: int) -> float:
        return pytest.approx(runs * RUN_COST)  # type: ignore[no-any-return]

    by_tool = as_json(mesh, "tool")
    rows = {r["key"]: r for r in by_tool["rows"]}  # type: ignore[attr-defined]
    assert list(rows) == ["claude-code", "echo"]  # the costliest first
    assert rows["claude-code"]["tasks"] == 3
    assert rows["claude-code"]["cost_usd"] == cost(3)
    assert rows["claude-code"]["input_tokens"] == 3 * RUN_TOKENS["input"]
    assert rows["claude-code"]["output_tokens"] == 3 * RUN_TOKENS["output"]
    assert rows["claude-code"]["cache_read_tokens"] == 3 * RUN_TOKENS["cache_read"]
    assert rows["claude-code"]["cache_creation_tokens"] == 3 * RUN_TOKENS["cache_creation"]
    assert (rows["echo"]["tasks"], rows["echo"]["cost_usd"]) == (2, 0)
    total = by_tool["total"]
    assert isinstance(total, dict)
    assert (total["key"], total["tasks"], total["cost_usd"]) == ("total", 5, cost(3))
    assert by_tool["by"] == "tool" and by_tool["truncated"] is False

    by_workflow = as_json(mesh, "workflow")
    spent = {r["key"]: (r["tasks"], r["cost_usd"]) for r in by_workflow["rows"]}  # type: ignore[attr-defined]
    assert spent == {workflow["id"]: (3, cost(2)), "-": (2, cost(1))}
    named = {r["key"]: r["name"] for r in by_workflow["rows"]}  # type: ignore[attr-defined]
    assert named == {workflow["id"]: workflow["name"], "-": "-"}
    by_agent = as_json(mesh, "agent")
    assert [(r["key"], r["name"], r["tasks"]) for r in by_agent["rows"]] == [(agent_id, "ai", 5)]  # type: ignore[attr-defined]
    assert report(mesh, "--by", "agent").splitlines()[1].split()[:2] == ["ai", "5"]
    workflows = report(mesh, "--by", "workflow").splitlines()
    assert workflows[0].split()[:3] == ["WORKFLOW", "ID", "TASKS"]
    assert workflows[1].split()[:3] == [workflow["name"], workflow["id"], "3"]
    by_day = as_json(mesh, "day")
    assert {r["key"] for r in by_day["rows"]} == days  # type: ignore[attr-defined]
    assert by_day["total"]["tasks"] == 5  # type: ignore[index]

    table = report(mesh, "--by", "tool").splitlines()
    assert table[0].split() == [
        "TOOL", "TASKS", "COST", "INPUT", "TOKENS", "OUTPUT", "TOKENS", "CACHE", "READ", "CACHE",
        "WRITE",
    ]  # fmt: skip
    assert table[1].split()[:3] == ["claude-code", "3", "$0.0369"]
    assert table[-1].split()[:5] == ["total", "5", "$0.0369", "3600", "1020"]

    parsed = list(csv.DictReader(io.StringIO(report(mesh, "--by", "workflow", "-o", "csv"))))
    assert [r["workflow"] for r in parsed] == [workflow["id"], "-", "total"]
    assert parsed[0]["name"] == workflow["name"]
    assert [r["tasks"] for r in parsed] == ["3", "2", "5"]
    assert float(parsed[0]["cost_usd"]) == cost(2)
    assert parsed[-1]["output_tokens"] == str(3 * RUN_TOKENS["output"])

    assert yaml.safe_load(report(mesh, "-o", "yaml"))["total"]["tasks"] == 5

    # A viewer may read the report; a window the tasks ended before shows none of them.
    created = mesh.ctl("user", "create", "finance", "--role", "viewer", "-o", "json")
    assert created.returncode == 0, created.stderr
    viewer = {**mesh.env, "PHOTON_API_KEY": json.loads(created.stdout)["api_key"]}
    assert json.loads(report(mesh, "-o", "json", env=viewer))["total"]["tasks"] == 5
    time.sleep(1.5)
    assert json.loads(report(mesh, "--since", "1s", "-o", "json"))["rows"] == []


def test_bad_report_flags_are_usage_errors(mesh: Mesh) -> None:
    for args, message in [
        (["--by", "week"], "argument --by: invalid choice: 'week'"),
        (["--since", "soon"], "error: invalid duration 'soon'"),
        (["--since", "0s"], "error: invalid duration '0s': must be greater than zero"),
        (["-o", "xml"], "argument -o/--output: invalid choice: 'xml'"),
    ]:
        ran = mesh.ctl("report", "cost", *args)
        assert (ran.returncode, ran.stdout) == (2, ""), (args, ran.stderr)
        assert message in ran.stderr.strip().splitlines()[-1], (args, ran.stderr)
