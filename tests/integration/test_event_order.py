"""A task's progress is committed before its end: whoever is told that a task ended and then
reads its log sees every event the tool emitted, however many it emitted just before it ended.

Real hub and agent: tools that print a burst of lines and exit at once, many times over, several
at a time (so the hub's group commit batches progress and ends together); and `photonctl run`
then `photonctl tasks logs` with Claude Code's tool calls, as a user runs them.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

from photon.model import TaskState

from .harness import Mesh
from .test_ai_quota import FAKES

LINES = 100  # per task
AT_ONCE = 4
ROUNDS = 8
# Rounds start at least this far apart, so that the agent's events stay at half of
# max-agent-events-per-second (1000) however fast the machine is: none is dropped for the rate.
ROUND_SECONDS = 2 * LINES * AT_ONCE / 1000
BURST = ["sh", "-c", f"i=1; while [ $i -le {LINES} ]; do echo line $i; i=$((i+1)); done"]


async def test_every_event_is_in_the_log_as_soon_as_the_end_is_reported(mesh: Mesh) -> None:
    await mesh.agent("burst", "--allow-tool", "shell")
    async with mesh.client() as client:

        async def run_then_read() -> list[str]:
            done = await client.run("shell", "run", inputs={"argv": BURST})
            assert done.state is TaskState.SUCCEEDED, done.failure
            stored = [item async for item in client.watch(done.id, follow=False)]
            return [
                getattr(item, "message", "")
                for item in stored
                if getattr(item, "kind", "") == "log"
            ]

        for _ in range(ROUNDS):
            started = time.monotonic()
            logs = await asyncio.gather(*(run_then_read() for _ in range(AT_ONCE)))
            for lines in logs:
                assert lines == [f"line {i}" for i in range(1, LINES + 1)], len(lines)
            await asyncio.sleep(max(0.0, started + ROUND_SECONDS - time.monotonic()))


async def test_tasks_logs_right_after_run_shows_the_tool_calls(mesh: Mesh) -> None:
    env = {
        "PATH": f"{FAKES}{os.pathsep}{os.environ['PATH']}",
        "PHOTON_FAKE_SCENARIO": "tool_calls",
    }
    await mesh.agent("ai", env=env)
    for _ in range(3):
        run = mesh.ctl("run", "claude-code", "--input", "prompt=edit", "-o", "json")
        assert run.returncode == 0, run.stderr
        task = json.loads(run.stdout)
        assert task["state"] == "SUCCEEDED", task
        logs = mesh.ctl("tasks", "logs", task["id"])
        assert logs.returncode == 0, logs.stderr
        calls = [line for line in logs.stdout.splitlines() if " tool_call: " in line]
        assert len(calls) == 3, logs.stdout  # Read, Edit and Bash, as the fake emits them
