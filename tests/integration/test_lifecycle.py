"""Liveness, reconnects, health endpoints and graceful shutdown, with real processes."""

from __future__ import annotations

import signal
import urllib.error
import urllib.request

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .harness import HEARTBEAT, Mesh, free_port, wait_for


def _http_status(address: str, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://{address}{path}", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


async def _health(
    address: str,
    ca_pem: bytes,
    *,
    client_key: bytes | None = None,
    client_cert: bytes | None = None,
) -> int:
    credentials = grpc.ssl_channel_credentials(ca_pem, client_key, client_cert)
    async with grpc.aio.secure_channel(address, credentials) as channel:
        response = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
        return int(response.status)


async def test_health_endpoints(mesh: Mesh) -> None:
    http = mesh.serving["http"]
    assert _http_status(http, "/healthz") == 200
    assert _http_status(http, "/readyz") == 200
    assert _http_status(http, "/nope") == 404
    with urllib.request.urlopen(f"http://{http}/metrics", timeout=5) as response:
        assert 'photon_agents{state="connected"}' in response.read().decode()

    ca_pem = (mesh.hub_dir / "ca.crt").read_bytes()
    serving = health_pb2.HealthCheckResponse.SERVING
    assert await _health(mesh.serving["api"], ca_pem) == serving
    data_dir = mesh.join("probe")
    assert (
        await _health(
            mesh.serving["mesh"],
            ca_pem,
            client_key=(data_dir / "agent.key").read_bytes(),
            client_cert=(data_dir / "agent.crt").read_bytes(),
        )
        == serving
    )


async def test_agent_is_lost_after_missed_beats_and_comes_back(mesh: Mesh) -> None:
    agent = await mesh.agent("sleepy")
    agent.signal(signal.SIGSTOP)
    try:
        # Lost after 4 missed beats; allow for the monitor's tick.
        await mesh.wait_agent_state("sleepy", "lost", timeout=4 * HEARTBEAT + 5)
    finally:
        agent.signal(signal.SIGCONT)
    await mesh.wait_agent_state("sleepy", "connected", timeout=40)


async def test_agents_reconnect_after_a_hub_restart(mesh: Mesh) -> None:
    # Fixed ports so the agent can find the hub again after it restarts.
    assert mesh.hub is not None
    mesh.hub.stop()
    mesh.mesh_port, mesh.api_port = free_port(), free_port()
    await mesh.start_hub()
    agent = await mesh.agent("steady")

    assert mesh.hub.stop() == 0  # SIGTERM: graceful, exit 0
    await mesh.start_hub()
    await mesh.wait_agent_state("steady", "connected", timeout=30)
    ran = mesh.ctl("run", "echo", "--input", "after=restart")
    assert ran.returncode == 0, ran.stderr
    assert "reconnecting in" in agent.output()

    assert agent.stop() == 0
    await wait_for(lambda: "stream closed" in mesh.hub.output())  # type: ignore[union-attr]
