from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .harness import Mesh, make_env


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[Mesh]:
    """An initialised, running hub (port 0, its own CA) in a throw-away dir."""
    tmp_path.chmod(0o700)
    mesh = Mesh(root=tmp_path, env=make_env(tmp_path))
    mesh.init()
    await mesh.start_hub()
    try:
        yield mesh
    finally:
        mesh.stop_all()
