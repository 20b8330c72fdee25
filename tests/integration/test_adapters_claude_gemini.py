"""claude-code and gemini-cli through a real hub and agent, the fake CLIs on its PATH."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .harness import Mesh, wait_for

FAKES = Path(__file__).resolve().parents[1] / "fakes"


def fake_env(scenario: str, **extra: str) -> dict[str, str]:
    return {
        "PATH": f"{FAKES}{os.pathsep}{os.environ['PATH']}",
        "PHOTON_FAKE_SCENARIO": scenario,
        **extra,
    }


async def test_ai_tools_detected_streamed_and_answered(mesh: Mesh) -> None:
    await mesh.agent("ai", env=fake_env("success"))

    shown = mesh.ctl("agents", "show", "ai", "-o", "json")
    assert shown.returncode == 0, shown.stderr
    tools = {t["name"]: t for t in json.loads(shown.stdout)["tools"]}
    assert (tools["claude-code"]["available"], tools["claude-code"]["version"]) == (True, "2.1.3")
    assert (tools["gemini-cli"]["available"], tools["gemini-cli"]["version"]) == (True, "0.21.0")
    assert tools["claude-code"]["enabled"] and tools["gemini-cli"]["enabled"]

    claude = mesh.ctl("run", "claude-code", "--input", "prompt=hello")
    assert claude.returncode == 0, claude.stderr
    outputs = json.loads(claude.stdout)
    assert outputs["result"] == "Done: hello"
    assert outputs["session_id"] == "5f1c3a52-8e0b-4b5e-9d2a-3c7f0e9a1b10"
    assert outputs["cost_usd"] == 0.0123
    assert outputs["num_turns"] == 3
    # The events streamed to stderr while the task ran, in the order the tool produced them.
    streamed = [line.split(" ", 1)[1] for line in claude.stderr.splitlines() if ": " in line]
    expected = [
        "status: session 5f1c3a52-8e0b-4b5e-9d2a-3c7f0e9a1b10 started"
        " (model claude-sonnet-4-5-20250929)",
        "log: I'll look at the files first.",
        'tool_call: Bash {"command": "ls", "description": "List files"}',
        "log: Done: hello",
        "cost: $0.0123",
    ]
    assert [line for line in streamed if line in expected] == expected
    assert "state: succeeded" in claude.stderr

    gemini = mesh.ctl("run", "gemini-cli", "--input", "prompt=hello", "-o", "json")
    assert gemini.returncode == 0, gemini.stderr
    task = json.loads(gemini.stdout)
    assert task["state"] == "SUCCEEDED"
    assert task["outputs"]["result"] == "I'll list the files.\n\nDone: hello"
    assert task["outputs"]["usage"]["total_tokens"] == 1840


async def test_claude_rate_limit_fails_as_quota(mesh: Mesh) -> None:
    # A reset time in the past, so a hub that parks quota failures until then retries at once.
    await mesh.agent("ai", env=fake_env("rate_limit", PHOTON_FAKE_RESET_AT="1767225600"))

    run = mesh.ctl("run", "claude-code", "--input", "prompt=hello", "-o", "json", timeout=30)
    assert run.returncode == 1, run.stderr
    task = json.loads(run.stdout)
    assert task["state"] == "FAILED"
    assert task["failure"]["failure_class"] == "quota", task
    assert task["failure"]["message"] == "Claude AI usage limit reached|1767225600"
    assert task["failure"]["retry_at"] == "2026-01-01T00:00:00Z"  # the reset time, in RFC 3339


async def test_cancel_through_the_hub_kills_the_tool(mesh: Mesh, tmp_path: Path) -> None:
    pidfile = tmp_path / "claude.pids"
    await mesh.agent("slow-ai", env=fake_env("slow", PHOTON_FAKE_PIDFILE=str(pidfile)))
    async with mesh.client() as client:
        task = await client.submit("claude-code", inputs={"prompt": "take your time"})
        await wait_for(lambda: pidfile.exists() and len(pidfile.read_text().split()) == 2)
        pids = [int(p) for p in pidfile.read_text().split()]
        cancelled = mesh.ctl("tasks", "cancel", task.id)
        assert cancelled.returncode == 0, cancelled.stderr

        def gone() -> bool:
            return not any(Path(f"/proc/{pid}").exists() and _running(pid) for pid in pids)

        await wait_for(gone, timeout=5)
        assert (await client.get_task(task.id)).state.value == "CANCELLED"


def _running(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
