"""Continuing an AI session (`photonctl run --continue`, a workflow step's `continue`) through a
real hub and agents running the fake claude, each agent keeping its sessions on its own disk."""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from photon.model import TaskState

from .harness import Mesh, wait_for

FAKES = Path(__file__).resolve().parents[1] / "fakes"
FIRST_SESSION = "5f1c3a52-8e0b-4b5e-9d2a-3c7f0e9a1b10"  # the fake's new session
RESUMED_SESSION = "9d0e6b7a-2c41-4f0e-8a55-7b3e1d2c4f60"  # the fake's session after --resume


def claude_env(sessions: Path) -> dict[str, str]:
    """The fake claude on PATH, keeping its sessions in `sessions` (one dir per agent)."""
    return {
        "PATH": f"{FAKES}{os.pathsep}{os.environ['PATH']}",
        "PHOTON_FAKE_SESSIONS": str(sessions),
    }


def run_json(mesh: Mesh, *args: str) -> dict:  # type: ignore[type-arg]
    result = mesh.ctl("run", "claude-code", *args, "-o", "json", timeout=60)
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)  # type: ignore[no-any-return]


async def test_follow_ups_land_on_the_agent_holding_the_session(mesh: Mesh, tmp_path: Path) -> None:
    await mesh.agent("one", env=claude_env(tmp_path / "one-sessions"))
    await mesh.agent("two", env=claude_env(tmp_path / "two-sessions"))

    first = run_json(mesh, "--input", "prompt=start")
    assert first["outputs"]["session_id"] == FIRST_SESSION
    holder = first["agent_id"]
    chain = [first["id"]]
    for turn in range(3):  # the other agent is idle: only the session keeps them here
        follow = run_json(mesh, "--continue", chain[-1], "--input", f"prompt=turn {turn}")
        assert follow["state"] == "SUCCEEDED", follow
        assert follow["agent_id"] == holder
        assert follow["inputs"]["resume"] in (FIRST_SESSION, RESUMED_SESSION)
        assert follow["continue_from"] == chain[-1]
        chain.append(follow["id"])

    shown = mesh.ctl("tasks", "show", chain[-1], "-o", "json")
    assert shown.returncode == 0, shown.stderr
    session = json.loads(shown.stdout)["session"]
    assert session == {"id": RESUMED_SESSION, "agent": holder, "continues": chain[:-1]}
    table = mesh.ctl("tasks", "show", chain[-1])
    assert table.returncode == 0 and RESUMED_SESSION in table.stdout, table.stderr


async def test_a_follow_up_waits_for_its_agent_and_runs_when_it_returns(
    mesh: Mesh, tmp_path: Path
) -> None:
    env = claude_env(tmp_path / "one-sessions")
    one = mesh.start_agent(mesh.join("one"), env=env)
    await mesh.wait_agent_state("one", "connected")
    await mesh.agent("two", env=claude_env(tmp_path / "two-sessions"))
    first = run_json(mesh, "--agent", "one", "--input", "prompt=start")

    one.stop()
    async with mesh.client() as client:
        follow = await client.submit(
            "claude-code", inputs={"prompt": "go on"}, continue_from=first["id"]
        )

        async def waiting() -> str:
            return (await client.get_task(follow.id)).waiting_reason

        await wait_for(waiting)
        reason = await waiting()
        assert "agent one" in reason and FIRST_SESSION in reason, reason
        assert (await client.get_task(follow.id)).state is TaskState.QUEUED

        mesh.start_agent(tmp_path / "agent-one", env=env)
        done = await client.wait(follow.id)
        assert done.state is TaskState.SUCCEEDED, done.failure
        assert done.agent_id == first["agent_id"]
        assert done.attempt == 1


async def test_continuing_what_cannot_be_continued_is_refused(mesh: Mesh, tmp_path: Path) -> None:
    await mesh.agent("one", env=claude_env(tmp_path / "one-sessions"))
    echo = mesh.ctl("run", "echo", "--input", "message=hi", "-o", "json")
    assert echo.returncode == 0, echo.stderr
    echo_id = json.loads(echo.stdout)["id"]
    first = run_json(mesh, "--input", "prompt=start")

    cases = [
        (["claude-code", "--continue", "NOSUCHTASK"], "task NOSUCHTASK not found"),
        (
            ["claude-code", "--continue", echo_id],
            "a session of echo cannot be continued by claude-code",
        ),
        (["gemini-cli", "--continue", first["id"]], "cannot be continued by gemini-cli"),
        (["echo", "--continue", echo_id], "tool echo has no sessions to continue"),
    ]
    for args, message in cases:
        result = mesh.ctl("run", *args, "--input", "prompt=x")
        assert result.returncode == 1, (args, result.stdout)
        assert message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


async def test_a_workflow_step_continues_the_step_it_needs(mesh: Mesh, tmp_path: Path) -> None:
    await mesh.agent("one", env=claude_env(tmp_path / "one-sessions"))
    await mesh.agent("two", env=claude_env(tmp_path / "two-sessions"))
    document = {
        "name": "plan-then-build",
        "steps": [
            {"id": "plan", "tool": "claude-code", "inputs": {"prompt": "plan it"}},
            {"id": "check", "tool": "echo", "needs": ["plan"], "inputs": {"message": "ok"}},
            {
                "id": "build",
                "tool": "claude-code",
                "needs": ["check"],
                "continue": "plan",
                "inputs": {"prompt": "now build it"},
            },
        ],
    }
    path = tmp_path / "flow.yaml"
    path.write_text(yaml.safe_dump(document))
    result = mesh.ctl("workflow", "run", str(path), "-o", "json", timeout=90)
    assert result.returncode == 0, result.stderr + result.stdout
    async with mesh.client() as client:
        workflow = await client.get_workflow(json.loads(result.stdout)["id"])
        [plan_id] = workflow.step("plan").task_ids
        [build_id] = workflow.step("build").task_ids
        plan, build = await client.get_task(plan_id), await client.get_task(build_id)
    assert build.spec.continue_from == plan.id
    assert build.agent_id == plan.agent_id
    assert build.inputs["resume"] == FIRST_SESSION
    assert (build.outputs or {})["session_id"] == RESUMED_SESSION

    bad = dict(document, steps=[*document["steps"][:2], dict(document["steps"][2], needs=[])])
    path.write_text(yaml.safe_dump(bad))
    refused = mesh.ctl("workflow", "run", str(path))
    assert refused.returncode == 1
    assert "step 'build' continue: step 'plan' is not in its needs" in refused.stderr
