"""Long streams are re-handshaken: past the hub's mesh connection age an agent connects anew
(showing the certificate it holds now), and the tasks it runs meanwhile are not disturbed."""

from __future__ import annotations

import asyncio

from .harness import Mesh, free_port, wait_for


async def test_agents_connect_anew_past_the_connection_age_and_lose_nothing(mesh: Mesh) -> None:
    assert mesh.hub is not None
    mesh.hub.stop()
    mesh.mesh_port, mesh.api_port = free_port(), free_port()
    await mesh.start_hub("--mesh-connection-age", "5")
    agent = await mesh.agent("worker")
    async with mesh.client() as client:
        # A task longer than two connection ages runs to its end across the reconnections.
        long = await client.submit("echo", inputs={"sleep": 14, "n": 1})
        quick = []
        for _ in range(3):
            await asyncio.sleep(4)
            quick.append(await client.run("echo", inputs={"n": 2}))
        done = await asyncio.wait_for(client.wait(long.id), 60)
    assert done.state.value == "SUCCEEDED", done.failure
    assert done.attempt == 1  # never retried: the agent kept it through every new connection
    assert [t.state.value for t in quick] == ["SUCCEEDED"] * 3
    await wait_for(lambda: agent.output().count("connected to hub") >= 3, timeout=10)
    connects = mesh.ctl("audit", "list", "--action", "agent.connect")
    assert connects.returncode == 0 and connects.stdout.count("agent.connect") >= 3


async def test_a_connection_age_too_short_is_refused_with_one_line(mesh: Mesh) -> None:
    result = mesh.run(
        "-m", "photon.cli.hub", "serve", "--data-dir", str(mesh.hub_dir),
        "--mesh-connection-age", "1",
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: bad setting: mesh-connection-age must be at least 5 (got 1)"
    )
