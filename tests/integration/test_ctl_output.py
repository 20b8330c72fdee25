"""photonctl's output against a real hub: RFC 3339 times, list filters, wide and watched lists."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
from datetime import datetime
from typing import Any

import pytest
import yaml

from photon.errors import InvalidArgumentError

from .harness import PYTHON, Mesh

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")


def _epoch(text: str) -> float:
    assert RFC3339.match(text), text
    return datetime.fromisoformat(text).timestamp()


async def test_times_are_rfc3339_in_json_yaml_and_show(mesh: Mesh) -> None:
    await mesh.agent("clock")
    ran = mesh.ctl("run", "echo", "--input", "created_at=not a time", "-o", "json")
    assert ran.returncode == 0, ran.stderr
    task = json.loads(ran.stdout)
    async with mesh.client() as client:
        record = await client.get_task(task["id"])  # the Python client keeps epoch floats
    assert isinstance(record.created_at, float)
    for name in ("created_at", "started_at", "finished_at"):
        assert abs(_epoch(task[name]) - getattr(record, name)) < 0.001, name
    assert task["inputs"] == {"created_at": "not a time"}  # a tool's data is left alone

    listed = yaml.safe_load(mesh.ctl("tasks", "list", "-o", "yaml").stdout)
    assert listed[0]["id"] == task["id"]
    assert listed[0]["finished_at"] == task["finished_at"]
    assert "age" not in listed[0]  # ages only in tables

    shown = mesh.ctl("tasks", "show", task["id"]).stdout
    assert f"created_at:      {task['created_at']}" in shown, shown

    agents = json.loads(mesh.ctl("agents", "list", "-o", "json").stdout)
    assert _epoch(agents[0]["certificate_expires_at"]) > _epoch(task["created_at"])
    assert _epoch(agents[0]["last_heartbeat_at"]) > 0
    detail = mesh.ctl("agents", "show", "clock").stdout
    assert re.search(r"certificate expires:\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", detail, re.M)

    tokens = json.loads(mesh.ctl("join-token", "list", "-o", "json").stdout)
    assert all(RFC3339.match(t["expires_at"]) and "expires" not in t for t in tokens)


def _ids(mesh: Mesh, *flags: str) -> set[str]:
    listed = mesh.ctl("tasks", "list", "-o", "json", *flags)
    assert listed.returncode == 0, listed.stderr
    return {t["id"] for t in json.loads(listed.stdout)}


async def test_tasks_list_filters_in_the_hub(mesh: Mesh) -> None:
    await mesh.agent("left", "--allow-tool", "shell")
    await mesh.agent("right")
    async with mesh.client() as client:
        a = await client.run("echo", agent="left", labels={"team": "a", "env": "prod"})
        b = await client.run("echo", agent="right", labels={"team": "b", "env": "prod"})
        c = await client.run("shell", inputs={"argv": ["true"]}, labels={"team": "a"})
        assert c.agent_id == a.agent_id != b.agent_id  # only left runs shell
        left = a.agent_id
        # `since` is exact in the hub: the Python client sends the unix time itself.
        after_a = await client.list_tasks(since=b.created_at)
        assert {t.id for t in after_a} == {b.id, c.id}
        with pytest.raises(InvalidArgumentError, match="since"):
            await client.list_tasks(since=-1.0)
        with pytest.raises(InvalidArgumentError, match="labels: key"):
            await client.list_tasks(labels={"bad key": "x"})

    assert _ids(mesh) == {a.id, b.id, c.id}
    assert _ids(mesh, "--tool", "shell") == {c.id}
    assert _ids(mesh, "--tool", "echo") == {a.id, b.id}
    assert _ids(mesh, "--agent", "left") == {a.id, c.id}
    assert _ids(mesh, "--agent", left, "--tool", "echo") == {a.id}
    assert _ids(mesh, "--agent", "gone-01J") == set()  # an id no agent has now (a removed one's)
    assert _ids(mesh, "--label", "team=a") == {a.id, c.id}
    assert _ids(mesh, "--label", "team=a", "--label", "env=prod") == {a.id}
    assert _ids(mesh, "--label", "team=c") == set()
    assert _ids(mesh, "--since", "1h", "--state", "succeeded") == {a.id, b.id, c.id}
    assert _ids(mesh, "--limit", "1") == {c.id}  # newest first, the filter before the cap

    for flags, error in (
        (("--label", "team"), "error: label 'team': expected k=v"),
        (("--since", "soon"), "error: "),
    ):
        bad = mesh.ctl("tasks", "list", *flags)
        assert (bad.returncode, bad.stdout) == (2, ""), bad
        assert bad.stderr.startswith(error) and bad.stderr.count("\n") == 1, bad.stderr


async def test_wide_lists_add_columns(mesh: Mesh) -> None:
    await mesh.agent("widely")
    async with mesh.client() as client:
        await client.run("echo", labels={"team": "a"})
    narrow = mesh.ctl("tasks", "list").stdout.splitlines()
    wide = mesh.ctl("tasks", "list", "-o", "wide").stdout.splitlines()
    assert narrow[0].split() == ["ID", "TOOL", "STATE", "ATTEMPT", "AGENT", "AGE", "DURATION"]
    assert wide[0].split()[len(narrow[0].split()) :] == [
        "ACTION",
        "PRIORITY",
        "LABELS",
        "CREATED",
        "WAITING",
    ]
    assert "team=a" in wide[1] and "echo" in wide[1] and "\x1b[" not in wide[1]  # piped: no colour
    agents = mesh.ctl("agents", "list", "-o", "wide").stdout.splitlines()
    assert agents[0].split()[-5:] == ["HOSTNAME", "PLATFORM", "VERSION", "LOAD", "DISK"]


async def test_watch_prints_each_change_once_when_piped(mesh: Mesh) -> None:
    await mesh.agent("watched")
    watch = subprocess.Popen(
        [PYTHON, "-m", "photon.cli.ctl", "tasks", "list", "--watch"],
        env=mesh.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        async with mesh.client() as client:
            task = await client.submit("echo", inputs={"sleep": 3})
            assert watch.stdout is not None
            reader = asyncio.get_running_loop().run_in_executor(
                None, _read_until, watch.stdout, f"{task.id}", "SUCCEEDED", lines
            )
            await asyncio.wait_for(reader, timeout=60)
        await asyncio.sleep(5)  # two more fetches: nothing changed, nothing printed
    finally:
        watch.send_signal(signal.SIGINT)
        rest, errors = watch.communicate(timeout=30)
    assert (watch.returncode, errors) == (130, "")
    assert lines[0].split()[:3] == ["ID", "TOOL", "STATE"]
    rows = [line for line in [*lines, *rest.splitlines()] if line.startswith(task.id)]
    states = [row.split()[2] for row in rows]
    assert states[-1] == "SUCCEEDED" and len(states) == len(set(states)), rows
    assert "RUNNING" in states or "ASSIGNED" in states or "QUEUED" in states, rows


def _read_until(stream: Any, task_id: str, state: str, lines: list[str]) -> None:
    for line in stream:
        lines.append(line.rstrip("\n"))
        if line.startswith(task_id) and state in line:
            return


async def test_watch_in_json_and_csv_prints_a_record_per_change(mesh: Mesh) -> None:
    await mesh.agent("watched")
    async with mesh.client() as client:
        first = await client.run("echo")
    watchers = {
        fmt: subprocess.Popen(
            [PYTHON, "-m", "photon.cli.ctl", "tasks", "list", "-w", "-o", fmt],
            env=mesh.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for fmt in ("json", "csv")
    }
    try:
        await asyncio.sleep(5)  # both have fetched: the first task, once
        async with mesh.client() as client:
            second = await client.run("echo")
        await asyncio.sleep(5)
    finally:
        outputs = {}
        for fmt, watcher in watchers.items():
            watcher.send_signal(signal.SIGINT)
            outputs[fmt] = watcher.communicate(timeout=30)
            assert (watcher.returncode, outputs[fmt][1]) == (130, ""), outputs[fmt]
    records = [json.loads(line) for line in outputs["json"][0].splitlines()]
    assert (records[0]["id"], records[-1]["id"]) == (first.id, second.id)
    assert records[-1]["state"] == "SUCCEEDED" and RFC3339.match(records[-1]["created_at"])
    rows = outputs["csv"][0].splitlines()
    assert rows[0].startswith("id,tool,action,") and rows.count(rows[0]) == 1  # one header
    assert rows[1].startswith(first.id + ",") and rows[-1].startswith(second.id + ",")
    assert ",SUCCEEDED," in rows[-1]
