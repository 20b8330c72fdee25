"""/metrics after a real hub ran tasks: the values it shows, and promtool finds it clean."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .harness import Mesh, wait_for
from .test_adapters_claude_gemini import fake_env

PROMTOOL = shutil.which("promtool")


def scrape(mesh: Mesh) -> str:
    with urllib.request.urlopen(f"http://{mesh.serving['http']}/metrics", timeout=10) as page:
        assert page.status == 200
        return str(page.read().decode())


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_count_what_the_hub_did(mesh: Mesh) -> None:
    await mesh.agent("ai", env=fake_env("success"))
    async with mesh.client() as client:
        echoes = [await client.submit("echo", inputs={"text": f"hi {i}"}) for i in range(3)]
        failing = await client.submit("echo", inputs={"fail": "no", "fail_class": "auth"})
        claudes = [await client.submit("claude-code", inputs={"prompt": "hello"}) for _ in range(2)]
        slow = await client.submit("echo", inputs={"sleep": 60})
        await client.cancel_task(slow.id)
        ended = await client.wait_many([t.id for t in [*echoes, failing, *claudes, slow]])
    states = [t.state.value for t in ended]
    assert states == ["SUCCEEDED"] * 3 + ["FAILED"] + ["SUCCEEDED"] * 2 + ["CANCELLED"]

    text = scrape(mesh)
    found = samples(text)
    assert value(found, "photon_agents", state="connected") == 1
    assert value(found, "photon_tasks_submitted_total", tool="echo") == 5
    assert value(found, "photon_tasks_submitted_total", tool="claude-code") == 2
    assert value(found, "photon_tasks_finished_total", tool="echo", outcome="succeeded") == 3
    assert value(found, "photon_tasks_finished_total", tool="echo", outcome="auth") == 1
    assert value(found, "photon_tasks_finished_total", tool="echo", outcome="cancelled") == 1
    assert value(found, "photon_tasks_finished_total", tool="claude-code", outcome="succeeded") == 2
    assert value(found, "photon_tasks_queued", tool="echo") == 0
    # The fake claude reports $0.0123 and these tokens per run.
    assert value(found, "photon_ai_cost_usd_total", tool="claude-code") == pytest.approx(0.0246)
    tokens = {"input": 2400, "output": 680, "cache_read": 30000, "cache_creation": 4000}
    for kind, count in tokens.items():
        assert value(found, "photon_ai_tokens_total", tool="claude-code", kind=kind) == count
    assert value(found, "photon_ai_cost_usd_total", tool="echo") == 0
    # The slow echo may be cancelled before or after it is placed.
    assigned = value(found, "photon_mesh_messages_total", direction="out", kind="assign")
    assert assigned in (6, 7)
    assert value(found, "photon_task_dispatch_seconds_count") == assigned
    durations = value(found, "photon_task_duration_seconds_count", tool="echo")
    assert durations >= 4
    assert value(found, "photon_task_duration_seconds_bucket", tool="echo", le="+Inf") == durations
    assert value(found, "photon_task_duration_seconds_sum", tool="claude-code") > 0
    assert value(found, "photon_store_commit_seconds_count") >= 6
    assert value(found, "photon_mesh_messages_total", direction="in", kind="hello") == 1
    assert value(found, "photon_mesh_messages_total", direction="out", kind="welcome") == 1
    results = value(found, "photon_mesh_messages_total", direction="in", kind="task_result")
    assert results == assigned
    assert value(found, "photon_mesh_messages_total", direction="out", kind="result_ack") == results
    assert value(found, "process_resident_memory_bytes") > 0
    assert any(name.startswith("python_gc_") for name, _ in found)
    # No series names a task or an agent.
    assert not any(t.id in text for t in ended)

    if PROMTOOL is None:
        pytest.fail("promtool is missing: make system-tools installs it (Debian's prometheus)")
    checked = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")


async def test_queued_tasks_show_until_an_agent_takes_them(mesh: Mesh) -> None:
    await mesh.agent("one-slot", "--slots", "1")
    async with mesh.client() as client:
        tasks = [await client.submit("echo", inputs={"sleep": 60}) for _ in range(3)]

        def running_and_queued() -> tuple[float, float]:
            found = samples(scrape(mesh))
            return value(found, "photon_tasks_running"), value(
                found, "photon_tasks_queued", tool="echo"
            )

        await wait_for(lambda: running_and_queued() == (1, 2))
        for task in tasks:
            await client.cancel_task(task.id)
        await wait_for(lambda: running_and_queued() == (0, 0))
