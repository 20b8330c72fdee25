"""The mesh port: agents' Connect streams over mutual TLS, with health."""

from __future__ import annotations

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ...v1 import mesh_pb2_grpc
from ...wire import SERVER_OPTIONS, bind_port
from ..fleet import Fleet
from ..store import EnrolmentStore
from ..tasks import TaskEngine
from ._servicer import MeshServicer


class MeshServer:
    """Serves agents whose client certificate the hub's CA signed."""

    def __init__(
        self,
        *,
        listen: str,
        key_pem: bytes,
        chain_pem: bytes,
        ca_pem: bytes,
        store: EnrolmentStore,
        fleet: Fleet,
        engine: TaskEngine,
        heartbeat_interval: float,
        send_queue_limit: int,
    ) -> None:
        self._listen = listen
        self._fleet = fleet
        self._credentials = grpc.ssl_server_credentials(
            [(key_pem, chain_pem)], root_certificates=ca_pem, require_client_auth=True
        )
        self._health = health.aio.HealthServicer()  # type: ignore[attr-defined]
        self._server = grpc.aio.server(options=SERVER_OPTIONS)
        mesh_pb2_grpc.add_MeshServiceServicer_to_server(
            MeshServicer(
                store=store,
                fleet=fleet,
                engine=engine,
                heartbeat_interval=heartbeat_interval,
                send_queue_limit=send_queue_limit,
            ),
            self._server,
        )
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)

    async def start(self) -> int:
        """Bind and start serving; the port bound. Raises ConfigError when it cannot bind."""
        port = bind_port(self._server, self._listen, self._credentials)
        await self._server.start()
        return port

    async def set_serving(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse
        await self._health.set("", status.SERVING if serving else status.NOT_SERVING)

    async def stop(self, grace: float) -> None:
        """Close every agent's stream (they reconnect, here later or elsewhere), then stop."""
        for session in self._fleet:
            session.close("hub shutting down")
        await self._server.stop(grace)
