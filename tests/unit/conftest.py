"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from photon.hub.store import SqliteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """A real SQLite store, empty, in the test's own directory (a module may define its own)."""
    store = SqliteStore(tmp_path / "hub.db")
    await store.open()
    yield store
    await store.close()
