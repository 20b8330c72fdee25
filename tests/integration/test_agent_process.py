"""The agent process's own rules, with real processes: one agent per data dir, a removed agent
stops (and stops its tasks), a hub that is only down is waited for."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .harness import Mesh, Proc, free_port, wait_for

# Writes its pid, then sleeps: a tool process the test can watch.
SLEEPER = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(300)"


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def _agent_id(data_dir: Path) -> str:
    return str(json.loads((data_dir / "identity.json").read_text())["agent_id"])


def _last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


async def _exit_code(proc: Proc, timeout: float = 30.0) -> int:
    assert proc.popen is not None
    popen = proc.popen
    await wait_for(lambda: popen.poll() is not None, timeout=timeout)
    return popen.returncode


def _run_agent(mesh: Mesh, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """`photon-agent run` in the foreground; one that does not stop fails the test."""
    return mesh.run("-m", "photon.cli.agent", "run", "--data-dir", str(data_dir), timeout=30)


async def test_a_second_agent_on_one_data_dir_is_refused(mesh: Mesh) -> None:
    data_dir = mesh.join("single")
    first = mesh.start_agent(data_dir)
    await mesh.wait_agent_state("single", "connected")

    second = _run_agent(mesh, data_dir)
    assert second.returncode == 1
    assert second.stderr.strip() == (
        f"error: data dir {data_dir} is in use by another photon-agent (pid {first.pid});"
        " stop it first, or run this one with its own --data-dir"
    )
    # The first one never noticed: still connected, still running tasks.
    assert first.popen is not None and first.popen.poll() is None
    ran = mesh.ctl("run", "echo", "--input", "still=here")
    assert ran.returncode == 0, ran.stderr

    # The lock goes with the process that held it, however it ended.
    first.kill()
    again = mesh.start_agent(data_dir)  # logs to the same file as the first
    await wait_for(lambda: again.output().count("connected to hub") == 2)
    assert again.stop() == 0


async def test_a_removed_agent_stops_with_one_line(mesh: Mesh) -> None:
    data_dir = mesh.join("gone")
    agent = mesh.start_agent(data_dir)
    await mesh.wait_agent_state("gone", "connected")

    removed = mesh.ctl("agents", "remove", "gone")
    assert removed.returncode == 0, removed.stderr
    assert await _exit_code(agent) == 1
    assert _last_line(agent.output()) == (
        f"error: agent {_agent_id(data_dir)} was removed from this mesh;"
        " join again with a new token"
    )
    assert agent.output().count("was removed from this mesh") == 1

    # Started again, it says so at once instead of retrying.
    again = _run_agent(mesh, data_dir)
    assert again.returncode == 1
    assert _last_line(again.stderr) == _last_line(agent.output())


async def test_a_removed_agent_cancels_its_running_tasks(mesh: Mesh, tmp_path: Path) -> None:
    data_dir = mesh.join("busy")
    agent = mesh.start_agent(data_dir, "--allow-tool", "shell")
    await mesh.wait_agent_state("busy", "connected")
    pidfile = tmp_path / "tool.pid"
    async with mesh.client() as client:
        await client.submit("shell", inputs={"argv": ["python3", "-c", SLEEPER, str(pidfile)]})
        await wait_for(lambda: pidfile.exists() and pidfile.read_text().isdigit())
    tool = int(pidfile.read_text())
    assert _alive(tool)

    assert mesh.ctl("agents", "remove", "busy").returncode == 0
    assert await _exit_code(agent) == 1
    # Its own process group, so only the agent cancelling the task ends it (an agent that
    # merely exited would leave it sleeping).
    assert not _alive(tool)
    assert "was removed from this mesh" in _last_line(agent.output())


async def test_an_agent_waits_for_a_hub_that_is_down(mesh: Mesh) -> None:
    # Fixed ports, so the agent finds the hub again when it is back.
    assert mesh.hub is not None
    mesh.hub.stop()
    mesh.mesh_port, mesh.api_port = free_port(), free_port()
    await mesh.start_hub()
    data_dir = mesh.join("patient")
    mesh.hub.stop()

    agent = mesh.start_agent(data_dir)
    await wait_for(lambda: agent.output().count("reconnecting in") >= 3, timeout=30)
    assert "UNAVAILABLE" in agent.output()
    assert agent.popen is not None and agent.popen.poll() is None

    await mesh.start_hub()
    await mesh.wait_agent_state("patient", "connected", timeout=30)
    assert agent.stop() == 0
