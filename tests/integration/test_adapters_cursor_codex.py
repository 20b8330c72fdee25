"""cursor-agent and codex through a real hub and agent, with the fake CLIs on the agent's PATH."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .harness import Mesh

FAKES = Path(__file__).resolve().parents[1] / "fakes"


async def test_cursor_agent_and_codex_run_and_failures_are_classified(mesh: Mesh) -> None:
    path = f"{FAKES}{os.pathsep}{os.environ['PATH']}"
    await mesh.agent("ai2", env={"PATH": path})
    await mesh.agent("ai3", env={"PATH": path, "PHOTON_FAKE_SCENARIO": "auth"})

    listed = json.loads(mesh.ctl("agents", "show", "ai2", "-o", "json").stdout)
    tools = {t["name"]: t for t in listed["tools"]}
    assert tools["cursor-agent"]["available"] and tools["cursor-agent"]["enabled"]
    assert tools["codex"]["available"] and tools["codex"]["version"] == "0.50.0"

    cursor = mesh.ctl("run", "cursor-agent", "--agent", "ai2", "--input", "prompt=hi", "-o", "json")
    assert cursor.returncode == 0, cursor.stderr
    task = json.loads(cursor.stdout)
    assert task["state"] == "SUCCEEDED"
    assert task["outputs"]["result"] == (
        "Reading Added the greeting to hello.py and the tests pass."
    )
    assert task["outputs"]["session_id"]

    codex = mesh.ctl("run", "codex", "--agent", "ai2", "--input", "prompt=hi", "-o", "json")
    assert codex.returncode == 0, codex.stderr
    outputs = json.loads(codex.stdout)["outputs"]
    assert outputs["result"] == "Added the greeting to hello.py; the tests pass."
    assert outputs["num_turns"] == 1
    assert outputs["usage"]["output_tokens"] == 150

    # Progress events reach the hub in order.
    logs = mesh.ctl("tasks", "logs", json.loads(codex.stdout)["id"])
    assert logs.returncode == 0, logs.stderr
    kinds = [line.split(" ", 1)[1].split(":", 1)[0] for line in logs.stdout.splitlines()]
    assert [k for k in kinds if k in ("status", "thinking", "tool_call", "usage")] == [
        "status",
        "thinking",
        "tool_call",
        "tool_call",
        "status",
        "tool_call",
        "usage",
    ], logs.stdout

    denied = mesh.ctl("run", "codex", "--agent", "ai3", "--input", "prompt=hi", "-o", "json")
    assert denied.returncode == 1, denied.stderr
    failed = json.loads(denied.stdout)
    assert failed["state"] == "FAILED"
    assert failed["failure"]["failure_class"] == "auth"
    assert "401 Unauthorized" in failed["failure"]["message"]
    assert failed["attempt"] == 1  # auth is not retried
