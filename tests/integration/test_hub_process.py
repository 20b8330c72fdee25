"""The hub as a process and as an object: its ports, its start and its stop."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from photon.client import PhotonClient, load_context
from photon.errors import ConfigError
from photon.hub import Hub, HubConfig
from photon.hub.store import SqliteStore

from .harness import PYTHON, Mesh, free_port


def serve(mesh: Mesh, data_dir: Path, *ports: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "photon.cli.hub", "serve", "--data-dir", str(data_dir), *ports],
        env=mesh.env,
        capture_output=True,
        text=True,
        timeout=30,
    )


async def test_a_second_hub_on_the_same_ports_refuses_to_start(mesh: Mesh) -> None:
    other = mesh.root / "other-hub"
    assert (
        mesh.run(
            "-m", "photon.cli.hub", "init", "--data-dir", str(other), "--no-context"
        ).returncode
        == 0
    )
    mesh_address, api_address = mesh.serving["mesh"], mesh.serving["api"]
    second = serve(
        mesh,
        other,
        "--listen",
        mesh_address,
        "--api-listen",
        f"127.0.0.1:{free_port()}",
        "--http-listen",
        "127.0.0.1:0",
    )
    assert second.returncode == 1
    assert second.stderr.strip().splitlines()[-1] == (
        f"error: cannot listen on {mesh_address}: Address already in use"
    )
    third = serve(
        mesh,
        other,
        "--listen",
        "127.0.0.1:0",
        "--api-listen",
        api_address,
        "--http-listen",
        "127.0.0.1:0",
    )
    assert third.returncode == 1
    assert third.stderr.strip().splitlines()[-1] == (
        f"error: cannot listen on {api_address}: Address already in use"
    )
    # The first hub is unharmed and still the only one answering.
    async with mesh.client() as client:
        assert await client.list_agents() == []


async def test_a_port_held_by_another_program_is_one_clear_line(mesh: Mesh) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        other = mesh.root / "other-hub"
        mesh.run("-m", "photon.cli.hub", "init", "--data-dir", str(other), "--no-context")
        for flag in ("--listen", "--api-listen", "--http-listen"):
            ports = {
                "--listen": "127.0.0.1:0",
                "--api-listen": "127.0.0.1:0",
                "--http-listen": "127.0.0.1:0",
            }
            ports[flag] = f"127.0.0.1:{port}"
            result = serve(mesh, other, *[x for pair in ports.items() for x in pair])
            assert result.returncode == 1, flag
            assert "Traceback" not in result.stderr
            assert result.stderr.strip().splitlines()[-1] == (
                f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
            )


async def _health(address: str, ca_pem: bytes) -> int:
    credentials = grpc.ssl_channel_credentials(root_certificates=ca_pem)
    async with grpc.aio.secure_channel(address, credentials) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        response = await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
        return int(response.status)


async def test_async_with_hub_serves_once_ready_and_stops_in_stages(mesh: Mesh) -> None:
    assert mesh.hub is not None
    mesh.hub.stop()  # this test runs its own hub on the same data dir, in this process
    config = HubConfig(
        data_dir=mesh.hub_dir,
        mesh_listen="127.0.0.1:0",
        api_listen="127.0.0.1:0",
        http_listen="127.0.0.1:0",
        failover_grace=0.0,
        shutdown_grace=1.0,
    )
    context = load_context(mesh.config_path)
    async with Hub(config) as hub:
        assert hub.ready.is_set()
        assert await _health(hub.api_address, context.ca_pem.encode()) == (
            health_pb2.HealthCheckResponse.SERVING
        )
        client = PhotonClient(
            address=hub.api_address, ca_pem=context.ca_pem.encode(), api_key=context.api_key
        )
        async with client:
            token, _ = await client.create_join_token()
        api_address = hub.api_address
    assert not hub.ready.is_set()
    # Stopped: the port is closed and what it committed is in the store.
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError):
        await _health(api_address, context.ca_pem.encode())
    assert time.monotonic() - started < 10
    store = SqliteStore(mesh.hub_dir / "hub.db")
    await store.open()
    try:
        assert len(await store.list_join_tokens()) == 1
    finally:
        await store.close()
    assert token


async def test_a_hub_that_cannot_start_says_why_from_async_with(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    with pytest.raises(ConfigError, match=r"ca\.key is missing; run: photon-hub init"):
        async with Hub(HubConfig(data_dir=tmp_path)):
            pass


async def test_bytes_that_are_not_the_request_are_invalid_not_unknown(mesh: Mesh) -> None:
    context = load_context(mesh.config_path)
    credentials = grpc.ssl_channel_credentials(root_certificates=context.ca_pem.encode())
    async with grpc.aio.secure_channel(context.api, credentials) as channel:
        login = channel.unary_unary("/photon.v1.AuthService/Login")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await login(b"\x11")  # a field tag with its value cut off
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == "the request is not a valid LoginRequest message"
    assert "Traceback" not in (mesh.hub.output() if mesh.hub else "")
