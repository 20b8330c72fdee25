"""Many tasks per call (submit_many, wait_many), submit-and-follow on one call (run), and
following a task across a hub restart."""

from __future__ import annotations

import asyncio

import pytest

from photon.client import Task, TaskEvent, task_spec
from photon.errors import ConflictError, InvalidArgumentError, NotFoundError
from photon.model import TaskState

from .harness import Mesh, free_port


async def test_submit_many_then_wait_many_in_order(mesh: Mesh) -> None:
    await mesh.agent("w1", "--slots", "8")
    await mesh.agent("w2", "--slots", "8")
    async with mesh.client() as client:
        first = await client.run("echo", inputs={"n": -1})  # ended before the wait starts
        specs = [task_spec("echo", inputs={"n": i}) for i in range(1_500)]  # two batches
        tasks = await client.submit_many(specs)
        assert len({t.id for t in tasks}) == len(specs)
        ended = await client.wait_many([t.id for t in reversed(tasks)] + [first.id])
    assert [t.outputs for t in ended] == [{"n": i} for i in reversed(range(1_500))] + [{"n": -1}]
    assert {t.state for t in ended} == {TaskState.SUCCEEDED}
    assert len({t.agent_id for t in ended}) == 2, "load was spread over both agents"


async def test_submit_many_is_all_or_nothing(mesh: Mesh) -> None:
    await mesh.agent("w1")
    async with mesh.client() as client:
        good = task_spec("echo", inputs={"n": 1})
        bad_input = task_spec("echo", inputs={"sleep": "soon"})
        with pytest.raises(InvalidArgumentError, match=r"^spec 1: .*sleep"):
            await client.submit_many([good, bad_input, good])
        with pytest.raises(ConflictError, match=r"^spec 2: .*nosuchtool"):
            await client.submit_many([good, good, task_spec("nosuchtool")])
        assert await client.list_tasks() == []

        keyed = [task_spec("echo", idempotency_key="once"), task_spec("echo")]
        first = await client.submit_many(keyed)
        again = await client.submit_many(keyed[:1])
        assert again[0].id == first[0].id, "an idempotency key returns the first task"


async def test_wait_many_takes_any_iterable_of_ids(mesh: Mesh) -> None:
    await mesh.agent("w1")
    async with mesh.client() as client:
        tasks = await client.submit_many(task_spec("echo", inputs={"n": i}) for i in range(5))
        ended = await client.wait_many(t.id for t in tasks)  # a generator, read once
    assert [t.outputs for t in ended] == [{"n": i} for i in range(5)]


async def test_wait_many_names_an_unknown_task(mesh: Mesh) -> None:
    await mesh.agent("w1")
    async with mesh.client() as client:
        task = await client.submit("echo")
        with pytest.raises(NotFoundError, match="task NOPE not found"):
            await client.wait_many([task.id, "NOPE"])


async def test_run_follows_the_task_on_one_call(mesh: Mesh) -> None:
    await mesh.agent("w1")
    async with mesh.client() as client:
        seen: list[Task | TaskEvent] = []
        final = await client.run("echo", inputs={"sleep": 0.2, "m": "hi"}, on_update=seen.append)
        assert final.state is TaskState.SUCCEEDED
        assert final.outputs == {"sleep": 0.2, "m": "hi"}
        states = [item.state for item in seen if isinstance(item, Task)]
        assert not states[0].terminal, "the task as submitted comes first"
        assert states[-1] is TaskState.SUCCEEDED
        events = [item for item in seen if isinstance(item, TaskEvent)]
        assert [e.seq for e in events] == list(range(1, len(events) + 1)), "no event lost"
        assert "succeeded" in [e.message for e in events]

        failed = await client.run("echo", inputs={"fail": "boom", "fail_class": "invalid_input"})
        assert failed.state is TaskState.FAILED
        assert failed.failure is not None and failed.failure.message == "boom"

        with pytest.raises(ConflictError, match="nosuchtool"):
            await client.run("nosuchtool")

        # Without on_update only the end travels; the result is the same.
        quiet = await client.run("echo", inputs={"m": "quiet"})
        assert quiet.state is TaskState.SUCCEEDED and quiet.outputs == {"m": "quiet"}


async def test_wait_follows_a_task_across_a_hub_restart(mesh: Mesh) -> None:
    assert mesh.hub is not None
    mesh.hub.stop()
    mesh.mesh_port, mesh.api_port = free_port(), free_port()  # the same address after restart
    await mesh.start_hub()
    await mesh.agent("w1")
    async with mesh.client() as client:
        task = await client.submit("echo", inputs={"sleep": 3, "m": "survived"})
        waiting = asyncio.ensure_future(client.wait(task.id))
        await asyncio.sleep(0.5)
        assert not waiting.done()
        mesh.hub.kill()
        await asyncio.sleep(1.5)  # the watch fails and retries meanwhile
        assert not waiting.done()
        await mesh.start_hub()
        final = await asyncio.wait_for(waiting, timeout=30)
    assert final.state is TaskState.SUCCEEDED
    assert final.outputs == {"sleep": 3, "m": "survived"}
