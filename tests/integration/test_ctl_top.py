"""`photonctl top` against a real hub: a snapshot when piped, a live view in a real terminal."""

from __future__ import annotations

import asyncio
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from photon.client import Task

from .harness import PYTHON, Mesh, wait_for


async def _busy_mesh(mesh: Mesh) -> tuple[Task, Task]:
    """Agents zulu (one slot, busy, a task waiting for it) and alpha (idle)."""
    await mesh.agent("alpha")
    await mesh.agent("zulu", "--slots", "1")
    async with mesh.client() as client:
        running = await client.submit("echo", inputs={"sleep": 120}, agent="zulu")
        waiting = await client.submit("echo", inputs={"sleep": 120}, agent="zulu")

        async def placed() -> bool:
            return (await client.get_task(running.id)).state.value == "RUNNING"

        await wait_for(placed, timeout=30)
    return running, waiting


async def test_top_prints_a_snapshot_when_piped(mesh: Mesh) -> None:
    running, waiting = await _busy_mesh(mesh)
    top = mesh.ctl("top")
    assert (top.returncode, top.stderr) == (0, ""), top.stderr
    text = top.stdout.splitlines()
    assert text[0] == "photon top - 2 agents (2 connected), 1/5 slots busy, 1 waiting", text
    agents = text.index("AGENTS (sort: cpu; keys c m n t, q quits)")
    queues, runs = text.index("QUEUES"), text.index("RUNNING")
    assert text[agents + 1].split() == ["NAME", "STATE", "CPU", "MEM", "TASKS", "LOAD", "HEARTBEAT"]
    zulu = next(line for line in text[agents:queues] if line.startswith("zulu"))
    assert zulu.split()[1] == "connected" and zulu.split()[4] == "1/1", zulu
    queue = text[queues + 2]
    assert queue.split()[:2] == ["echo", "1"] and "all slots busy" in queue, queue
    assert text[runs + 2].split()[:4] == [running.id, "echo", "RUNNING", "zulu"]
    assert waiting.id not in top.stdout  # waiting tasks are counted by tool, not listed
    by_name = mesh.ctl("top", "--sort", "name").stdout.splitlines()
    start = by_name.index("AGENTS (sort: name; keys c m n t, q quits)")
    assert [line.split()[0] for line in by_name[start + 2 : start + 4]] == ["alpha", "zulu"]


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
async def test_top_live_in_a_terminal_sorts_and_quits(mesh: Mesh, tmp_path: Path) -> None:
    await _busy_mesh(mesh)
    done = tmp_path / "exit-code"
    script = tmp_path / "top.sh"
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in mesh.env.items())
    script.write_text(
        f"{exports}{shlex.quote(PYTHON)} -m photon.cli.ctl top --sort tasks\n"
        f"echo $? > {shlex.quote(str(done))}\nsleep 60\n"
    )
    tmux = ["tmux", "-L", f"photon-top-{tmp_path.name}"]
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", "120", "-y", "40", "sh", str(script)], check=True
    )
    try:

        def screen() -> str:
            shown = subprocess.run(
                [*tmux, "capture-pane", "-p"], capture_output=True, text=True, check=True
            )
            return shown.stdout

        def agent_order() -> list[str]:
            rows = screen().splitlines()
            return [r.split()[0] for r in rows if r.startswith(("alpha ", "zulu "))]

        await wait_for(lambda: "AGENTS (sort: tasks" in screen(), timeout=30)
        assert agent_order() == ["zulu", "alpha"]  # zulu runs a task
        assert "RUNNING" in screen() and "QUEUES" in screen()
        subprocess.run([*tmux, "send-keys", "n"], check=True)
        await wait_for(lambda: "AGENTS (sort: name" in screen(), timeout=10)
        assert agent_order() == ["alpha", "zulu"]
        await asyncio.sleep(3)  # a refresh later: redrawn in place, one view at the top
        shown = screen()
        assert shown.splitlines()[0].startswith("photon top - 2 agents")
        assert shown.count("photon top -") == 1 and "AGENTS (sort: name" in shown
        subprocess.run([*tmux, "send-keys", "q"], check=True)
        await wait_for(done.exists, timeout=15)
        assert done.read_text().strip() == "0"
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)
