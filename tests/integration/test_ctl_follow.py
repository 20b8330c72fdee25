"""Following a task or workflow from photonctl: its progress, and Ctrl-C."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

from .harness import PYTHON, Mesh, wait_for


def _start(mesh: Mesh, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, "-m", "photon.cli.ctl", *args],
        env=mesh.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def _running_task(mesh: Mesh) -> str:
    async with mesh.client() as client:

        async def running() -> str | None:
            tasks = await client.list_tasks(limit=1)
            return tasks[0].id if tasks and tasks[0].state.value == "RUNNING" else None

        found: str = await wait_for(running, timeout=30)
        return found


async def _interrupt(follower: subprocess.Popen[str]) -> tuple[str, str]:
    follower.send_signal(signal.SIGINT)
    out, err = await asyncio.to_thread(follower.communicate, timeout=30)
    assert follower.returncode == 130, err
    return out, err


async def test_ctrl_c_on_run_and_logs_stops_following_and_says_how_to_cancel(mesh: Mesh) -> None:
    await mesh.agent("slow")
    run = _start(mesh, "run", "echo", "--input", "sleep:=60", "--input", "log=started")
    task_id = await _running_task(mesh)
    logs = _start(mesh, "tasks", "logs", "-f", task_id)
    await asyncio.sleep(3)  # following
    for follower in (run, logs):
        _, err = await _interrupt(follower)
        hint = f"task {task_id} is still running; cancel it with: photonctl tasks cancel {task_id}"
        assert err.splitlines()[-1] == hint, err
        assert "Traceback" not in err
    async with mesh.client() as client:
        assert (await client.get_task(task_id)).state.value == "RUNNING"  # not cancelled
        await client.cancel_task(task_id)


async def test_ctrl_c_on_workflow_run(mesh: Mesh, tmp_path: Path) -> None:
    await mesh.agent("slow")
    path = tmp_path / "slow.yaml"
    path.write_text("{name: slow, steps: [{id: nap, tool: echo, inputs: {sleep: 60}}]}")
    run = _start(mesh, "workflow", "run", str(path))
    await _running_task(mesh)
    async with mesh.client() as client:
        (workflow,) = await client.list_workflows(limit=1)
        _, err = await _interrupt(run)
        hint = (
            f"workflow {workflow.id} is still running; "
            f"cancel it with: photonctl workflow cancel {workflow.id}"
        )
        assert err.splitlines()[-1] == hint, err
        await client.cancel_workflow(workflow.id)


async def test_run_prints_each_state_once(mesh: Mesh) -> None:
    await mesh.agent("quick")
    ran = mesh.ctl("run", "echo", "--input", "log=working", "--input", "sleep:=1")
    assert ran.returncode == 0, ran.stderr
    lines = ran.stderr.splitlines()
    for state in ("QUEUED", "RUNNING", "SUCCEEDED"):
        assert sum(state.lower() in line.lower() for line in lines) <= 1, ran.stderr
    assert lines[0].startswith("task ") and lines[0].endswith(" submitted"), ran.stderr
    assert [line.split(" ", 1)[1] for line in lines[1:] if " state: " in line] == [
        "state: assigned to quick (attempt 1)",
        "state: running",
        "state: succeeded",
    ], ran.stderr
    assert any(line.endswith(" log: working") for line in lines), ran.stderr
