"""photonctl against a real hub: usage errors, join tokens, pipes closed early, task logs."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

from photon.cli._common import EXIT_BROKEN_PIPE
from photon.client import TaskEvent

from .harness import PYTHON, Mesh, wait_for


def _one_line_usage_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


async def test_bad_task_flags_are_usage_errors(mesh: Mesh) -> None:
    # The hub refused these (exit 1); they are the caller's mistake, found before sending.
    bad = mesh.ctl("run", "echo", "--selector", "a=(b")
    assert _one_line_usage_error(bad) == "error: selector term 'a=(b' is not valid"
    bad = mesh.ctl("run", "echo", "--priority", "12")
    assert _one_line_usage_error(bad) == "error: --priority must be between 0 and 9, not 12"
    bad = mesh.ctl("join-token", "create", "--uses", str(2**31))
    assert _one_line_usage_error(bad) == "error: --uses must be at most 2147483647"
    async with mesh.client() as client:
        assert await client.list_tasks() == []  # nothing was submitted


async def test_bad_workflow_files_are_usage_errors(mesh: Mesh, tmp_path: Path) -> None:
    cases = {
        "list.yaml": ("- id: a\n  tool: echo\n", "not a list"),
        "scalar.yaml": ("just words\n", "not a string"),
        "empty.yaml": ("", "not an empty document"),
    }
    for name, (text, kind) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        line = _one_line_usage_error(mesh.ctl("workflow", "run", str(path)))
        assert line == f"error: {path}: a workflow is a mapping with name and steps, {kind}"

    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"name: \xff\xfe\n")
    line = _one_line_usage_error(mesh.ctl("workflow", "run", str(binary)))
    assert line.startswith(f"error: cannot read {binary}: not UTF-8 text")
    line = _one_line_usage_error(mesh.ctl("workflow", "run", str(tmp_path)))
    assert line == f"error: cannot read {tmp_path}: Is a directory"

    good = tmp_path / "good.yaml"
    good.write_text("name: good\nsteps:\n  - id: a\n    tool: echo\n")
    listed = tmp_path / "inputs.json"
    listed.write_text('["not", "an", "object"]')
    bad = mesh.ctl("workflow", "run", str(good), "--inputs-file", str(listed))
    assert _one_line_usage_error(bad) == "error: --inputs-file: expected a JSON or YAML object"
    listed.write_bytes(b"\xff")
    bad = mesh.ctl("run", "echo", "--inputs-file", str(listed))
    assert _one_line_usage_error(bad).startswith("error: --inputs-file: cannot read ")
    async with mesh.client() as client:
        assert await client.list_workflows() == []


async def test_workflow_dates_are_sent_as_text(mesh: Mesh, tmp_path: Path) -> None:
    await mesh.agent("w1")
    dated = tmp_path / "dated.yaml"  # yaml.safe_load made a date: a TypeError traceback
    dated.write_text(
        "name: dated\nsteps:\n  - id: a\n    tool: echo\n    inputs: {when: 2024-01-01}\n"
    )
    ran = mesh.ctl("workflow", "run", str(dated), "-o", "json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["state"] == "SUCCEEDED"


async def test_join_token_list_shows_the_time_left(mesh: Mesh) -> None:
    assert mesh.ctl("join-token", "create", "--ttl", "15m").returncode == 0
    assert mesh.ctl("join-token", "create", "--ttl", "1s").returncode == 0
    revoked = json.loads(mesh.ctl("join-token", "create", "-o", "json", "--ttl", "1h").stdout)
    assert mesh.ctl("join-token", "revoke", revoked["id"]).returncode == 0

    def expires() -> list[str]:
        listed = mesh.ctl("join-token", "list")
        assert listed.returncode == 0, listed.stderr
        lines = listed.stdout.splitlines()
        assert lines[0].split()[-1] == "EXPIRES"
        return sorted(line.split()[-1] for line in lines[1:])

    assert expires() in (["0s", "14m", "revoked"], ["14m", "expired", "revoked"])
    await wait_for(lambda: expires() == ["14m", "expired", "revoked"], timeout=10)


async def test_a_reader_that_goes_away_ends_photonctl_quietly(mesh: Mesh) -> None:
    for _ in range(3):
        assert mesh.ctl("join-token", "create").returncode == 0
    for unbuffered in ("1", ""):
        reader, writer = os.pipe()
        os.close(reader)  # `photonctl join-token list | head -0`
        try:
            done = subprocess.run(
                [PYTHON, "-m", "photon.cli.ctl", "join-token", "list"],
                env={**mesh.env, "PYTHONUNBUFFERED": unbuffered},
                stdout=writer,
                stderr=subprocess.PIPE,
                text=True,
                timeout=60,
            )
        finally:
            os.close(writer)
        assert (done.returncode, done.stderr) == (EXIT_BROKEN_PIPE, "")


async def test_logs_without_follow_print_a_running_tasks_events_so_far(mesh: Mesh) -> None:
    await mesh.agent("logger")
    async with mesh.client() as client:
        task = await client.submit("echo", inputs={"sleep": 60, "log": "halfway there"})

        async def logged() -> None:
            async for item in client.watch(task.id):
                if isinstance(item, TaskEvent) and item.kind == "log":
                    return

        await asyncio.wait_for(logged(), timeout=20)
        try:
            logs = mesh.ctl("tasks", "logs", task.id, timeout=20)
            assert (await client.get_task(task.id)).state.value == "RUNNING"
        finally:
            await client.cancel_task(task.id)
    assert logs.returncode == 0, logs.stderr
    assert "log: halfway there" in logs.stdout
    assert "state: assigned to logger (attempt 1)" in logs.stdout
