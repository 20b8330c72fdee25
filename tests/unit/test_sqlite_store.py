"""What only the SQLite store does: its schema, and giving up on a database that cannot take
writes (the contract itself is in tests/contract/test_store_contract.py)."""

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from photon.errors import StoreError
from photon.hub.core import TaskRecord
from photon.hub.store.sqlite import MIGRATIONS, SqliteStore
from photon.model import Role, TaskSpec, TaskState


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "hub.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(db_path)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def schema_versions(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT version FROM schema_version ORDER BY 1")]


async def test_open_runs_every_migration(store: SqliteStore, db_path: Path) -> None:
    assert schema_versions(db_path) == list(range(1, len(MIGRATIONS) + 1))
    with sqlite3.connect(db_path) as conn:
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    assert mode == "wal"


async def test_reopen_is_idempotent(db_path: Path) -> None:
    for _ in range(3):
        store = SqliteStore(db_path)
        await store.open()
        await store.close()
    assert schema_versions(db_path) == list(range(1, len(MIGRATIONS) + 1))


async def test_a_hub_from_before_users_keeps_its_admin(db_path: Path) -> None:
    # A database as `photon-hub init` left it before users had a table of their own.
    with sqlite3.connect(db_path) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for version, script in enumerate(MIGRATIONS[:2], start=1):
            conn.executescript(script)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        conn.execute(
            "INSERT INTO api_keys (id, user, role, secret_hash, created_at)"
            " VALUES ('k1', 'admin', 'admin', 'h', 5.0)"
        )
    store = SqliteStore(db_path)
    await store.open()
    try:
        [admin] = await store.list_users()
    finally:
        await store.close()
    assert (admin.name, admin.role, admin.created_at) == ("admin", Role.ADMIN, 5.0)
    assert admin.created_by == "photon-hub init"


async def test_close_is_safe_twice_and_before_open(db_path: Path) -> None:
    never_opened = SqliteStore(db_path)
    await never_opened.close()
    store = SqliteStore(db_path)
    await store.open()
    await store.close()
    await store.close()


def big_task(task_id: str) -> TaskRecord:
    return TaskRecord(
        id=task_id,
        spec=TaskSpec(tool="echo", inputs={"blob": "x" * 200_000}),
        state=TaskState.QUEUED,
        created_at=1.0,
    )


async def test_a_full_database_makes_the_store_give_up_loudly(store: SqliteStore) -> None:
    await store.insert_tasks([big_task("kept")])
    writer = store._writer  # a real fault: SQLite refuses to grow the file past this size
    assert writer is not None
    (pages,) = writer.execute("PRAGMA page_count").fetchone()
    writer.execute(f"PRAGMA max_page_count = {pages}")

    failing = asyncio.ensure_future(store.insert_tasks([big_task("too-big")]))
    await asyncio.sleep(0)
    behind = asyncio.ensure_future(store.insert_tasks([big_task("behind")]))
    with pytest.raises(StoreError, match="database or disk is full"):
        await failing
    with pytest.raises(StoreError):  # held behind the failing commit, then failed with it
        await behind
    assert store.failed.is_set() and isinstance(store.failure, StoreError)
    with pytest.raises(StoreError):  # and every write from now on
        await store.append_task_events([])
    # What was committed before is still there to read.
    assert (await store.get_task("kept")).id == "kept"
    assert {t.id for t in await store.list_tasks()} == {"kept"}


async def test_a_before_commit_hook_that_raises_makes_the_store_give_up_loudly(
    store: SqliteStore,
) -> None:
    def broken() -> None:
        raise RuntimeError("a bug in a hook")

    store.before_commit(broken)
    with pytest.raises(StoreError, match="a bug in a hook"):  # not left waiting forever
        await asyncio.wait_for(store.insert_tasks([big_task("lost")]), timeout=10)
    assert store.failed.is_set()


async def test_a_commit_that_fails_for_a_moment_is_retried(store: SqliteStore) -> None:
    writer = store._writer
    assert writer is not None
    (pages,) = writer.execute("PRAGMA page_count").fetchone()
    writer.execute(f"PRAGMA max_page_count = {pages}")

    async def make_room() -> None:
        await asyncio.sleep(0.05)  # while the first attempt's retry waits
        writer.execute("PRAGMA max_page_count = 1000000")

    results = await asyncio.gather(
        store.insert_tasks([big_task("first")]),
        store.insert_tasks([big_task("second")]),
        make_room(),
    )
    assert [created for batch in results[:2] for _, created in batch] == [True, True]
    assert not store.failed.is_set()
    assert {t.id for t in await store.list_tasks()} == {"first", "second"}
