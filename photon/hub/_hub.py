"""`Hub`: the daemon that owns the store, the engine and the mesh, api and http listeners."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import grpc.aio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from .._fs import check_private_dir, write_atomic
from .._grpc import SERVER_OPTIONS, split_address
from ..certs import fingerprint, load_certificate, load_private_key
from ..errors import ConfigError
from ..v1 import admin_pb2_grpc, auth_pb2_grpc, enroll_pb2_grpc, mesh_pb2_grpc
from ._admin import AdminServicer, AuthServicer
from ._auth import TokenAuthority
from ._config import HubConfig
from ._engine import TaskEngine
from ._enroll import EnrollServicer
from ._fleet import Fleet
from ._http import HttpEndpoint
from ._interceptor import AuthInterceptor
from ._mesh import MeshServicer
from ._metrics import HubMetrics
from ._store import Store
from ._stores import open_store
from ._workflows import WorkflowEngine

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

log = logging.getLogger(__name__)
_WILDCARDS = {"", "0.0.0.0", "::"}  # noqa: S104


class Hub:
    """Serves agents and admins until `stop()`; `ready` is set once every listener is bound."""

    def __init__(self, config: HubConfig, *, registry: CollectorRegistry | None = None) -> None:
        self._config = config
        self._registry = registry  # None: HubMetrics makes one at the first scrape
        self.ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self.mesh_address = ""
        self.api_address = ""
        self.http_address = ""

    def stop(self) -> None:
        self._stopping.set()

    async def __aenter__(self) -> Hub:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    def _advertised(self, listen: str, port: int) -> str:
        host, _ = split_address(listen)
        if host in _WILDCARDS:
            host = self._config.advertise_host or socket.gethostname()
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    async def run(self) -> None:
        """Serve until stopped. Raises ConfigError when the data dir or its keys are wrong."""
        config, paths = self._config, self._config.paths
        check_private_dir(config.data_dir)
        try:
            ca_key = load_private_key(paths.ca_key.read_bytes())
            ca_pem = paths.ca_cert.read_bytes()
            hub_key_pem = paths.hub_key.read_bytes()
            hub_chain = paths.hub_cert.read_bytes() + ca_pem
            jwt_key = load_pem_private_key(paths.jwt_key.read_bytes(), password=None)
        except FileNotFoundError as exc:
            raise ConfigError(
                f"{exc.filename} is missing; run: photon-hub init --data-dir {config.data_dir}"
            ) from None
        if not isinstance(jwt_key, Ed25519PrivateKey):
            raise ConfigError(f"{paths.jwt_key} is not an Ed25519 key")
        ca_cert = load_certificate(ca_pem)

        async with contextlib.AsyncExitStack() as stack:
            store: Store = await open_store(config.store_url, data_dir=config.data_dir)
            stack.push_async_callback(store.close)
            fleet = Fleet()
            engine = TaskEngine(
                store=store,
                fleet=fleet,
                lost_after=config.lost_after,
                failover_grace=config.failover_grace,
                limits=config.tool_limits,
            )
            await engine.load()
            stack.push_async_callback(engine.flush)
            workflows = WorkflowEngine(store=store, tasks=engine)
            await workflows.load()
            stack.push_async_callback(workflows.flush)
            metrics = HubMetrics(fleet=fleet, registry=self._registry)
            health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]

            mesh_server = grpc.aio.server(options=SERVER_OPTIONS)
            mesh_pb2_grpc.add_MeshServiceServicer_to_server(
                MeshServicer(
                    store=store,
                    fleet=fleet,
                    engine=engine,
                    heartbeat_interval=config.heartbeat_interval,
                    send_queue_limit=config.send_queue_limit,
                ),
                mesh_server,
            )
            health_pb2_grpc.add_HealthServicer_to_server(health_servicer, mesh_server)
            mesh_port = mesh_server.add_secure_port(
                config.mesh_listen,
                grpc.ssl_server_credentials(
                    [(hub_key_pem, hub_chain)], root_certificates=ca_pem, require_client_auth=True
                ),
            )

            api_server = grpc.aio.server(
                options=SERVER_OPTIONS,
                interceptors=[AuthInterceptor(TokenAuthority(jwt_key, ttl=config.token_ttl))],
            )
            admin_pb2_grpc.add_AdminServiceServicer_to_server(
                AdminServicer(
                    store=store,
                    fleet=fleet,
                    engine=engine,
                    workflows=workflows,
                    api_addresses=lambda: [self.api_address],
                    ca_pin=fingerprint(ca_cert),
                ),
                api_server,
            )
            auth_pb2_grpc.add_AuthServiceServicer_to_server(
                AuthServicer(store=store, authority=TokenAuthority(jwt_key, ttl=config.token_ttl)),
                api_server,
            )
            enroll_pb2_grpc.add_EnrollServiceServicer_to_server(
                EnrollServicer(
                    store=store,
                    ca_key=ca_key,
                    ca_cert=ca_cert,
                    mesh_addresses=lambda: [self.mesh_address],
                ),
                api_server,
            )
            health_pb2_grpc.add_HealthServicer_to_server(health_servicer, api_server)
            api_port = api_server.add_secure_port(
                config.api_listen, grpc.ssl_server_credentials([(hub_key_pem, hub_chain)])
            )

            http_host, http_port = split_address(config.http_listen)
            http = await asyncio.start_server(
                HttpEndpoint(metrics=metrics.scrape, ready=self.ready.is_set).handle,
                http_host or None,
                http_port,
            )
            stack.push_async_callback(_close_server, http)
            bound_http = http.sockets[0].getsockname()[1]

            await mesh_server.start()
            stack.push_async_callback(self._stop_grpc, mesh_server, fleet)
            await api_server.start()
            stack.push_async_callback(api_server.stop, config.shutdown_grace)

            self.mesh_address = self._advertised(config.mesh_listen, mesh_port)
            self.api_address = self._advertised(config.api_listen, api_port)
            self.http_address = self._advertised(config.http_listen, bound_http)
            _write_serving_file(
                config.paths.serving,
                mesh=self.mesh_address,
                api=self.api_address,
                http=self.http_address,
            )
            async with asyncio.TaskGroup() as group:
                engine_task = group.create_task(engine.run())
                workflows_task = group.create_task(workflows.run())
                await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
                self.ready.set()
                log.info(
                    "hub serving: mesh %s, api %s, http %s",
                    self.mesh_address,
                    self.api_address,
                    self.http_address,
                )
                await self._stopping.wait()
                log.info("hub shutting down")
                self.ready.clear()
                await health_servicer.enter_graceful_shutdown()
                workflows.stop()
                engine.stop()
                await workflows_task
                await engine_task
            config.paths.serving.unlink(missing_ok=True)

    async def _stop_grpc(self, server: grpc.aio.Server, fleet: Fleet) -> None:
        # Agents' streams never end on their own: close them so they reconnect elsewhere or later.
        for session in fleet:
            session.close("hub shutting down")
        await server.stop(self._config.shutdown_grace)


async def _close_server(server: asyncio.Server) -> None:
    server.close()
    await server.wait_closed()


def _write_serving_file(path: Path, **addresses: str) -> None:
    write_atomic(path, json.dumps(addresses).encode(), mode=0o600)
