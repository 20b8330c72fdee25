"""`--log-format json` on a real hub and agent: one object a line, about the task it names."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from photon.model import RetryPolicy

from .harness import Mesh, make_env

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")


def _entries(log: Path) -> list[dict[str, Any]]:
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    for entry in entries:
        assert RFC3339.match(entry["time"]), entry
        assert {"level", "logger", "message"} <= entry.keys(), entry
    return entries


async def test_hub_and_agent_log_json_about_tasks(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    mesh = Mesh(root=tmp_path, env=make_env(tmp_path))
    mesh.init()
    await mesh.start_hub("--log-format", "json")
    try:
        agent = await mesh.agent("logger", "--log-format", "json")
        once = RetryPolicy(max_attempts=1)
        async with mesh.client() as client:
            ok = await client.run("echo", inputs={"log": "x" * 100})
            bad = await client.run("echo", inputs={"fail": "boom " * 400}, retry=once)
            slow = await client.run("echo", inputs={"sleep": 30}, timeout=1.0, retry=once)
        assert (ok.state.value, bad.state.value, slow.state.value) == (
            "SUCCEEDED",
            "FAILED",
            "TIMED_OUT",
        )
    finally:
        mesh.stop_all()

    hub = _entries(tmp_path / "hub.log")
    about = {t.id: [e for e in hub if e.get("task_id") == t.id] for t in (ok, bad, slow)}
    assert [e["message"] for e in about[ok.id]] == [f"task {ok.id} submitted: echo echo"]
    assert all(e["level"] == "info" for lines in about.values() for e in lines)
    failed = about[bad.id][-1]
    assert failed["message"].startswith(f"task {bad.id} attempt 1 failed (tool_error; giving up)")
    assert failed["agent_id"] == bad.agent_id
    assert len(failed["message"]) < 400  # the tool's long message is cut
    assert "timed out (timeout; giving up)" in about[slow.id][-1]["message"]
    assert not any("x" * 100 in e["message"] for e in hub)  # no line per progress event

    lines = _entries(agent.log)
    mine = [e for e in lines if e.get("agent_id")]
    assert mine and all(e["agent_id"] == ok.agent_id for e in mine)
    running = [e for e in lines if e["message"].startswith(f"running task {ok.id}")]
    assert [e["task_id"] for e in running] == [ok.id]
