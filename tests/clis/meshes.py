"""A real hub and agents for a module of real-CLI tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import pytest

from ..integration.harness import Mesh, make_env


def new_mesh(tmp_path_factory: pytest.TempPathFactory, name: str) -> Mesh:
    """A mesh in a private directory of its own, its hub initialised (not started)."""
    root = tmp_path_factory.mktemp(name)
    root.chmod(0o700)
    mesh = Mesh(root=root, env=make_env(root))
    mesh.init()
    return mesh


@contextmanager
def running(
    mesh: Mesh, agents: Mapping[str, str], *, env: dict[str, str] | None = None
) -> Iterator[Mesh]:
    """The hub, and an agent for each entry of `agents` (name -> its agent.toml), all
    connected; all stopped at the end."""

    async def start() -> None:
        await mesh.start_hub()
        for name, text in agents.items():
            data_dir = mesh.join(name)
            (data_dir / "agent.toml").write_text(text)
            mesh.start_agent(data_dir, env=env)
        for name in agents:  # an agent detects its tools before it connects: slow when loaded
            await mesh.wait_agent_state(name, "connected", timeout=120)

    try:
        asyncio.run(start())
        yield mesh
    finally:
        mesh.stop_all()
