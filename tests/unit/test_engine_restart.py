"""A hub taking over queued tasks moves their epoch on, durably: an attempt the previous hub
dispatched without recording it can never be mistaken for a new one."""

from __future__ import annotations

from pathlib import Path

from photon.hub.core import TaskRecord
from photon.hub.fleet import Fleet
from photon.hub.store import SqliteStore
from photon.hub.tasks import TaskEngine
from photon.model import TaskSpec, TaskState


def record(task_id: str, state: TaskState, epoch: int) -> TaskRecord:
    return TaskRecord(
        id=task_id,
        spec=TaskSpec(tool="echo"),
        state=state,
        created_at=1.0,
        attempt=1,
        epoch=epoch,
        agent_id="a1" if state is TaskState.RUNNING else "",
    )


async def load(path: Path) -> TaskEngine:
    store = SqliteStore(path)
    await store.open()
    engine = TaskEngine(store=store, fleet=Fleet(), lost_after=20.0, failover_grace=0.0)
    await engine.load()
    await store.close()
    return engine


async def test_queued_tasks_move_to_a_new_epoch_at_each_take_over(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    store = SqliteStore(path)
    await store.open()
    await store.insert_tasks(
        [
            record("queued", TaskState.QUEUED, 0),
            record("retrying", TaskState.RETRY_WAIT, 2),
            record("running", TaskState.RUNNING, 1),
        ]
    )
    await store.close()

    for expected in (1, 2):  # every take-over moves on again
        engine = await load(path)
        first, _ = await engine.get("queued")
        assert first.epoch == expected
        store = SqliteStore(path)
        await store.open()
        assert (await store.get_task("queued")).epoch == expected
        assert (await store.get_task("retrying")).epoch == 2 + expected
        # A running attempt keeps its epoch: its agent may report it when it reconnects.
        assert (await store.get_task("running")).epoch == 1
        await store.close()
