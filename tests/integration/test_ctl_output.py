"""photonctl's output against a real hub: RFC 3339 times, list filters, wide and watched lists."""

from __future__ import annotations

import json
import re
from datetime import datetime

import yaml

from .harness import Mesh

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
