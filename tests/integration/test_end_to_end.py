"""A user's first hour: three agents join, show up with metrics, and run tasks."""

from __future__ import annotations

import json

import yaml

from .harness import Mesh, wait_for


async def test_agents_join_heartbeat_and_run_tasks(mesh: Mesh) -> None:
    await mesh.agent("local-1", labels="kind=local")
    await mesh.agent("cloud-1", "--allow-tool", "shell", labels="kind=cloud")
    await mesh.agent("edge-1", labels="kind=edge")

    async with mesh.client() as client:

        async def all_heartbeating() -> bool:
            agents = await client.list_agents()
            return len(agents) == 3 and all(a.last_heartbeat_at and a.metrics for a in agents)

        await wait_for(all_heartbeating)

    listed = mesh.ctl("agents", "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    agents = {a["name"]: a for a in json.loads(listed.stdout)}
    assert set(agents) == {"local-1", "cloud-1", "edge-1"}
    assert {a["labels"]["kind"] for a in agents.values()} == {"local", "cloud", "edge"}
    for agent in agents.values():
        assert agent["state"] == "connected"
        assert agent["metrics"]["memory_total_bytes"] > 0
        assert agent["metrics"]["free_slots"] == 4
        tools = {t["name"]: t for t in agent["tools"]}
        assert tools["echo"]["enabled"] and tools["echo"]["available"]
    assert {t["name"]: t["enabled"] for t in agents["cloud-1"]["tools"]}["shell"] is True
    assert {t["name"]: t["enabled"] for t in agents["edge-1"]["tools"]}["shell"] is False

    table = mesh.ctl("agents", "list")
    assert table.stdout.splitlines()[0].split()[:3] == ["ID", "NAME", "STATE"]
    shown = mesh.ctl("agents", "show", "edge-1", "-o", "yaml")
    assert yaml.safe_load(shown.stdout)["labels"] == {"kind": "edge"}

    echo = mesh.ctl("run", "echo", "--input", "message=hi", "--input", "n:=3")
    assert echo.returncode == 0, echo.stderr
    assert json.loads(echo.stdout) == {"message": "hi", "n": 3}

    uname = mesh.ctl("run", "shell", "--input", 'argv:=["uname","-a"]', "-o", "json")
    assert uname.returncode == 0, uname.stderr
    task = json.loads(uname.stdout)
    assert task["state"] == "SUCCEEDED"
    assert task["agent_id"] == agents["cloud-1"]["id"]
    assert task["outputs"]["stdout"].startswith("Linux")

    refused = mesh.ctl("run", "shell", "--agent", "edge-1", "--input", 'argv:=["true"]')
    assert refused.returncode == 1
    assert "not allowed on edge-1" in refused.stderr
    assert "--allow-tool shell" in refused.stderr

    failed = mesh.ctl("run", "echo", "--input", "fail=boom")
    assert failed.returncode == 1
    assert "FAILED" in failed.stderr and "boom" in failed.stderr

    pinned = mesh.ctl("run", "echo", "--selector", "kind=edge", "-o", "json")
    assert json.loads(pinned.stdout)["agent_id"] == agents["edge-1"]["id"]


async def test_shell_refused_when_no_agent_allows_it(mesh: Mesh) -> None:
    await mesh.agent("plain")
    refused = mesh.ctl("run", "shell", "--input", 'argv:=["uname","-a"]')
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "error: tool 'shell' is not allowed on plain; start an agent with --allow-tool shell"
    )


async def test_malformed_input_is_a_usage_error(mesh: Mesh) -> None:
    bad = mesh.ctl("run", "echo", "--input", "argv:=[1,")
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: --input 'argv:=[1,': not valid JSON")
    assert "Traceback" not in bad.stderr
    missing = mesh.ctl("run", "echo", "--input", "novalue")
    assert missing.returncode == 2
    assert "expected k=v, k:=JSON or k=@file" in missing.stderr


async def test_inputs_are_checked_against_the_action_schema(mesh: Mesh) -> None:
    await mesh.agent("checker", "--allow-tool", "shell")
    wrong_type = mesh.ctl("run", "shell", "--input", "argv:=5")
    assert wrong_type.returncode == 1
    assert wrong_type.stderr.strip() == "error: shell run: input argv: 5 is not of type 'array'"
    missing = mesh.ctl("run", "shell")
    assert missing.stderr.strip() == "error: shell run: inputs: 'argv' is a required property"
    unknown = mesh.ctl("run", "echo", "nope")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "error: tool echo has no action 'nope' (actions: echo)"
    negative = mesh.ctl("run", "echo", "--input", "sleep:=-1")
    assert "input sleep: -1 is less than the minimum of 0" in negative.stderr
    ok = mesh.ctl("run", "echo", "--input", "sleep:=0", "-o", "json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["action"] == "echo"
