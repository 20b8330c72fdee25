"""Proof under failure: killed agents and hubs, stopped agents, cancelled process trees."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import psutil

from photon.client import PhotonClient
from photon.errors import PhotonError

from .harness import HEARTBEAT, PYTHON, Mesh, Proc, free_port, terminal_transitions, wait_for


async def test_killed_agent_tasks_finish_elsewhere_exactly_once(mesh: Mesh) -> None:
    # The survivor is drained until the doomed agent holds all 50 tasks.
    await mesh.agent("survivor", "--slots", "50")
    assert mesh.ctl("agents", "drain", "survivor").returncode == 0
    doomed = await mesh.agent("doomed", "--slots", "50")
    async with mesh.client() as client:
        tasks = [await client.submit("echo", inputs={"sleep": 4, "i": i}) for i in range(50)]

        async def all_running() -> bool:
            states = [(await client.get_task(t.id)).state.value for t in tasks]
            return states.count("RUNNING") == 50

        await wait_for(all_running)
        await client.undrain_agent("survivor")
        doomed.kill()
        killed_at = time.monotonic()

        async def all_done() -> bool:
            return all([(await client.get_task(t.id)).state.terminal for t in tasks])

        # Lost after 4 missed beats, then the 4 s task again elsewhere; all within 5 s of that.
        await wait_for(all_done, timeout=4 * HEARTBEAT + 4 + 5)
        assert time.monotonic() - killed_at < 4 * HEARTBEAT + 4 + 5
        finals = [await client.get_task(t.id) for t in tasks]
    assert {t.state.value for t in finals} == {"SUCCEEDED"}
    assert {t.attempt for t in finals} == {2}
    assert {t.outputs["i"] for t in finals if t.outputs} == set(range(50))
    counts = terminal_transitions(mesh.hub_dir)
    assert {counts[t.id] for t in tasks} == {1}


async def test_an_agent_restarted_before_it_is_lost_runs_the_task_it_lost(mesh: Mesh) -> None:
    # One slot, one agent: the retry can only run on the agent that lost the task, back before
    # the hub counts it lost, and only if the slot held for the lost attempt is given back.
    data_dir = mesh.join("solo")
    agent = mesh.start_agent(data_dir, "--slots", "1")
    await mesh.wait_agent_state("solo", "connected")
    async with mesh.client() as client:
        task = await client.submit("echo", inputs={"sleep": 3})

        async def running() -> bool:
            return (await client.get_task(task.id)).state.value == "RUNNING"

        await wait_for(running)
        agent.kill()
        mesh.start_agent(data_dir, "--slots", "1")
        final = await asyncio.wait_for(client.wait(task.id), timeout=30)
        after = await client.run("echo")  # and the slot is free once that is done
    assert (final.state.value, final.attempt) == ("SUCCEEDED", 2), final.failure
    assert after.state.value == "SUCCEEDED"


async def test_hub_killed_mid_run_loses_no_acknowledged_task(mesh: Mesh) -> None:
    assert mesh.hub is not None
    mesh.hub.stop()
    mesh.mesh_port, mesh.api_port = free_port(), free_port()
    await mesh.start_hub()
    await mesh.agent("w1", "--slots", "32")
    await mesh.agent("w2", "--slots", "32")

    acked: dict[str, str] = {}  # idempotency key -> task id
    total = 2000

    async def submit_all(client: PhotonClient, keys: list[str]) -> None:
        semaphore = asyncio.Semaphore(64)

        async def one(key: str) -> None:
            async with semaphore:
                try:
                    task = await client.submit("echo", inputs={"key": key}, idempotency_key=key)
                except PhotonError:
                    return  # not acknowledged: the client retries it later
                acked[key] = task.id

        await asyncio.gather(*(one(k) for k in keys))

    keys = [f"job-{i}" for i in range(total)]
    async with mesh.client() as client:
        submitting = asyncio.create_task(submit_all(client, keys))
        await wait_for(lambda: len(acked) >= total // 2, timeout=60)
        mesh.hub.kill()
        await submitting
    acked_before_crash = dict(acked)
    assert len(acked_before_crash) < total

    await mesh.start_hub()
    async with mesh.client() as client:
        # Retry what was never acknowledged; idempotency keys make repeats harmless.
        await submit_all(client, [k for k in keys if k not in acked_before_crash])
        await submit_all(client, list(acked_before_crash)[:100])
        assert len(acked) == total
        for key, task_id in acked_before_crash.items():
            assert acked[key] == task_id, "an acknowledged submission was lost or duplicated"

        async def all_done() -> bool:
            tasks = await client.list_tasks(limit=total + 10)
            return len(tasks) == total and all(t.state.terminal for t in tasks)

        await wait_for(all_done, timeout=120, interval=0.5)
        tasks = await client.list_tasks(limit=total + 10)
    assert {t.state.value for t in tasks} == {"SUCCEEDED"}
    assert {t.id for t in tasks} == set(acked.values())
    assert {t.outputs["key"] for t in tasks if t.outputs} == set(keys)
    counts = terminal_transitions(mesh.hub_dir)
    assert len(counts) == total and set(counts.values()) == {1}


async def test_stopped_agent_result_is_refused_after_reassignment(mesh: Mesh) -> None:
    await mesh.agent("healthy")
    assert mesh.ctl("agents", "drain", "healthy").returncode == 0
    stopped = await mesh.agent("stopped")
    async with mesh.client() as client:
        task = await client.submit("echo", inputs={"sleep": 4})

        async def running() -> bool:
            return (await client.get_task(task.id)).state.value == "RUNNING"

        await wait_for(running)
        stopped.signal(signal.SIGSTOP)
        await client.undrain_agent("healthy")
        try:
            final = await asyncio.wait_for(client.wait(task.id), timeout=30)
        finally:
            stopped.signal(signal.SIGCONT)
        assert final.state.value == "SUCCEEDED"
        assert final.attempt == 2
        healthy = await client.get_agent("healthy")
        assert final.agent_id == healthy.id
    assert mesh.hub is not None
    await wait_for(
        lambda: f"dropping stale result for task {task.id} attempt 1" in mesh.hub.output()
    )  # type: ignore[union-attr]
    assert terminal_transitions(mesh.hub_dir)[task.id] == 1
    async with mesh.client() as client:
        assert (await client.get_task(task.id)).agent_id == healthy.id


SPAWNER = """
import subprocess, sys, time
children = [subprocess.Popen(["sleep", "300"]) for _ in range(100)]
with open(sys.argv[1], "w") as f:
    f.write("\\n".join(str(c.pid) for c in children))
print("spawned", flush=True)
time.sleep(300)
"""


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


async def test_cancel_kills_the_whole_process_tree(mesh: Mesh, tmp_path: Path) -> None:
    await mesh.agent("runner", "--allow-tool", "shell")
    pidfile = tmp_path / "pids"
    async with mesh.client() as client:
        task = await client.submit(
            "shell", inputs={"argv": ["python3", "-c", SPAWNER, str(pidfile)]}
        )
        await wait_for(lambda: pidfile.exists() and len(pidfile.read_text().split()) == 100)
        pids = [int(p) for p in pidfile.read_text().split()]
        assert all(_alive(p) for p in pids)
        cancelled = mesh.ctl("tasks", "cancel", task.id)
        assert cancelled.returncode == 0, cancelled.stderr
        assert cancelled.stdout.strip() == f"task {task.id} cancelled"
        started = time.monotonic()
        await wait_for(lambda: not any(_alive(p) for p in pids), timeout=5)
        assert time.monotonic() - started < 5
        assert (await client.get_task(task.id)).state.value == "CANCELLED"
    again = mesh.ctl("tasks", "cancel", task.id)
    assert again.returncode == 1
    assert again.stderr.strip() == f"error: task {task.id} has already ended (CANCELLED)"


async def test_queued_task_cancel_and_logs(mesh: Mesh) -> None:
    await mesh.agent("one", "--slots", "1")
    async with mesh.client() as client:
        blocker = await client.submit("echo", inputs={"sleep": 30})
        queued = await client.submit("echo", inputs={"x": 1})
        show = json.loads(mesh.ctl("tasks", "show", queued.id, "-o", "json").stdout)
        assert show["state"] == "QUEUED"
        assert show["waiting_reason"].startswith("all slots busy")
        assert mesh.ctl("tasks", "cancel", queued.id).returncode == 0
        assert (await client.get_task(queued.id)).state.value == "CANCELLED"
        await client.cancel_task(blocker.id)
        final = await asyncio.wait_for(client.wait(blocker.id), timeout=10)
        assert final.state.value == "CANCELLED"
    logs = mesh.ctl("tasks", "logs", blocker.id)
    assert "state: assigned to one (attempt 1)" in logs.stdout
    assert "state: cancelled by a user" in logs.stdout


async def test_stalled_agent_neither_blocks_others_nor_grows_the_hub(mesh: Mesh) -> None:
    assert mesh.hub is not None
    mesh.hub.stop()
    await mesh.start_hub("--send-queue-limit", "64")
    await mesh.agent("healthy", "--slots", "8")
    data_dir = mesh.join("stalled")
    stalled = Proc(
        [PYTHON, str(Path(__file__).with_name("stalled_agent.py")), str(data_dir)],
        mesh.env,
        mesh.root / "stalled.log",
    ).start()
    mesh.agents.append(stalled)
    await mesh.wait_agent_state("stalled", "connected")
    hub = psutil.Process(mesh.hub.pid)
    rss_before = hub.memory_info().rss

    async with mesh.client() as client:
        semaphore = asyncio.Semaphore(64)

        async def flood(i: int) -> None:
            async with semaphore:
                await client.submit("echo", inputs={"pad": "x" * 512, "i": i}, agent="stalled")

        flooding = asyncio.gather(*(flood(i) for i in range(1500)))
        started = time.monotonic()
        results = await asyncio.gather(
            *(client.run("echo", inputs={"i": i}, agent="healthy") for i in range(40))
        )
        healthy_took = time.monotonic() - started
        await flooding
    assert {r.state.value for r in results} == {"SUCCEEDED"}
    assert healthy_took < 30
    await wait_for(lambda: "is not reading its stream; closing it" in mesh.hub.output())  # type: ignore[union-attr]
    # Bounded queues: what the stalled agent never read is dropped, not buffered.
    assert hub.memory_info().rss - rss_before < 100 * 1024 * 1024
