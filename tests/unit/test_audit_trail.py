"""The audit trail keeps the order of the calls it records, commits a deferred record with
the store's next commit (or on its own shortly after), and never holds one back from a caller
who waits for it (a real SQLite store)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from photon.hub.audit import AuditTrail, _trail
from photon.hub.store import SqliteStore


@pytest.fixture
def trail(store: SqliteStore, tmp_path: Path) -> AuditTrail:
    return AuditTrail(store, tmp_path / "audit.head")


async def _stored(store: SqliteStore) -> list[str]:
    return [r.entry.target for r in await store.list_audit()]


async def test_a_deferred_record_waits_then_is_written_on_its_own(
    store: SqliteStore, trail: AuditTrail
) -> None:
    record = trail.record("ada", "admin.ListTasks", target="read", deferred=True)
    for _ in range(20):
        await asyncio.sleep(0)
    assert await _stored(store) == []  # not a commit of its own, yet
    await asyncio.wait_for(record, timeout=5)
    assert await _stored(store) == ["read"]


async def test_a_deferred_record_joins_the_next_commit(
    store: SqliteStore, trail: AuditTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_trail, "DEFER_SECONDS", 3600.0)  # written only with the next commit
    trail.record("ada", "admin.SubmitTask", target="refused", deferred=True)
    await store.append_task_events([])  # any write: its commit takes the queued record along
    assert await _stored(store) == ["refused"]


async def test_records_keep_the_order_of_the_calls(store: SqliteStore, trail: AuditTrail) -> None:
    trail.record("ada", "admin.GetTask", target="first", deferred=True)
    trail.record("ada", "admin.GetTask", target="second", deferred=True)
    await trail.record("ada", "admin.CancelTask", target="third")  # at once, after those
    assert await _stored(store) == ["first", "second", "third"]
    assert [r.entry.target for r in await trail.list()] == ["first", "second", "third"]


async def test_a_caller_who_waits_for_a_deferred_record_does_not_wait_out_the_deferral(
    store: SqliteStore, trail: AuditTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_trail, "DEFER_SECONDS", 3600.0)
    record = trail.record("ada", "admin.CancelTask", target="change", deferred=True)
    await asyncio.wait_for(trail.written(record), timeout=10)
    assert await _stored(store) == ["change"]


async def test_flush_writes_what_is_deferred(store: SqliteStore, trail: AuditTrail) -> None:
    trail.record("-", "auth.login", outcome="denied", deferred=True)
    await trail.flush()
    assert [r.entry.outcome for r in await store.list_audit()] == ["denied"]
    count, problem = await trail.verify()
    assert (count, problem) == (1, None)
