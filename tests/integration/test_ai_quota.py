"""Quota-aware failover through a real hub and agents running the fake AI CLIs: a tool out of
quota on an agent is kept off it until the reset, the task moves to another agent or a fallback
tool, or waits (saying why) and runs after the reset."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path

from photon.model import RetryPolicy, TaskState

from .harness import Mesh, wait_for

FAKES = Path(__file__).resolve().parents[1] / "fakes"
SLOW_RETRY = RetryPolicy(max_attempts=3, initial_backoff=300.0)  # a backoff nobody waits out


def fake_env(scenario: str, reset_at: float) -> dict[str, str]:
    return {
        "PATH": f"{FAKES}{os.pathsep}{os.environ['PATH']}",
        "PHOTON_FAKE_SCENARIO": scenario,
        "PHOTON_FAKE_RESET_AT": str(int(reset_at)),
    }


def metrics(mesh: Mesh) -> str:
    with urllib.request.urlopen(f"http://{mesh.serving['http']}/metrics", timeout=5) as response:
        return response.read().decode()  # type: ignore[no-any-return]


async def test_out_of_quota_everywhere_waits_for_the_reset_then_runs(mesh: Mesh) -> None:
    # Whole seconds, as the tool reports its reset; room for a slow machine to look before it.
    reset = int(time.time()) + 30
    await mesh.agent("solo", env=fake_env("quota_until_reset", reset))
    async with mesh.client() as client:
        task = await client.submit(
            "claude-code", inputs={"prompt": "hello"}, retry=SLOW_RETRY, queue_timeout=120
        )

        async def parked() -> str:
            return (await client.get_task(task.id)).waiting_reason

        await wait_for(parked)
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(reset)))
        assert await parked() == f"claude-code out of quota on all agents until {when}"

        shown = mesh.ctl("agents", "show", "solo", "-o", "json")
        assert shown.returncode == 0, shown.stderr
        assert list(json.loads(shown.stdout)["quota_blocks"]) == ["claude-code"]  # -> until
        table = mesh.ctl("agents", "show", "solo")
        assert "out of quota" in table.stdout and when in table.stdout, table.stdout
        assert 'photon_tool_quota_blocked{tool="claude-code"} 1.0' in metrics(mesh)

        done = await client.wait(task.id)
        assert done.state is TaskState.SUCCEEDED, done.failure
        assert done.attempt == 2  # parked, not retried: one attempt before the reset, one after
        assert time.time() >= reset
    assert 'photon_tool_quota_blocked{tool="claude-code"}' not in metrics(mesh)


async def test_a_quota_failure_moves_the_task_to_an_agent_with_quota_left(mesh: Mesh) -> None:
    reset = time.time() + 3600
    await mesh.agent("spent", env=fake_env("rate_limit", reset))
    await mesh.agent("fresh", env=fake_env("success", reset))
    assert mesh.ctl("agents", "drain", "fresh").returncode == 0
    async with mesh.client() as client:
        task = await client.submit("claude-code", inputs={"prompt": "hello"}, retry=SLOW_RETRY)

        async def parked() -> bool:
            current = await client.get_task(task.id)
            return current.attempt == 1 and "out of quota" in current.waiting_reason

        await wait_for(parked)
        assert mesh.ctl("agents", "undrain", "fresh").returncode == 0
        done = await client.wait(task.id)
        fresh = await client.get_agent("fresh")
        assert done.state is TaskState.SUCCEEDED, done.failure
        assert (done.agent_id, done.attempt) == (fresh.id, 2)


async def test_out_of_quota_everywhere_falls_back_to_another_tool(mesh: Mesh) -> None:
    env = {**fake_env("success", time.time() + 3600), "PHOTON_FAKE_CLAUDE_SCENARIO": "rate_limit"}
    await mesh.agent("ai", env=env)
    run = mesh.ctl(
        "run",
        "claude-code",
        "--fallback",
        "gemini-cli",
        "--fallback",
        "codex",
        "--input",
        "prompt=hello",
        "--budget-usd",
        "0.5",
        "-o",
        "json",
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    task = json.loads(run.stdout)
    assert (task["state"], task["tool"], task["attempt"]) == ("SUCCEEDED", "gemini-cli", 2), task
    assert task["action"] == "prompt"
    # The hub gave claude-code the budget as max_budget_usd; gemini-cli's prompt takes none.
    assert task["inputs"] == {"prompt": "hello"}
    logs = mesh.ctl("tasks", "logs", task["id"])
    assert "claude-code out of quota on all agents until" in logs.stdout
    assert "falling back to gemini-cli" in logs.stdout
