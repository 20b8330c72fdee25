"""The mesh port: agents' Connect streams over mutual TLS, with health."""

from __future__ import annotations

import grpc

from ...v1 import mesh_pb2_grpc
from ...wire import GrpcPort
from ..audit import AuditTrail
from ..core import DEFAULT_LIMITS, Limits
from ..fleet import Fleet
from ..security import Renewal
from ..stats import HubStats
from ..store import EnrolmentStore
from ..tasks import TaskEngine
from ._servicer import MeshServicer


class MeshServer(GrpcPort):
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
        renewal: Renewal,
        heartbeat_interval: float,
        send_queue_limit: int,
        audit: AuditTrail,
        connection_age: float = 3600.0,
        limits: Limits = DEFAULT_LIMITS,
        stats: HubStats | None = None,
    ) -> None:
        # After `connection_age` the hub sends GOAWAY; the stream gets a grace to end, and the
        # agent connects anew with the certificate it holds now (renewed, or revoked).
        age_ms = int(connection_age * 1000)
        super().__init__(
            listen=listen,
            credentials=grpc.ssl_server_credentials(
                [(key_pem, chain_pem)], root_certificates=ca_pem, require_client_auth=True
            ),
            options=[
                ("grpc.max_connection_age_ms", age_ms),
                ("grpc.max_connection_age_grace_ms", min(30_000, age_ms // 2)),
            ],
        )
        self._fleet = fleet
        mesh_pb2_grpc.add_MeshServiceServicer_to_server(
            MeshServicer(
                store=store,
                fleet=fleet,
                engine=engine,
                renewal=renewal,
                heartbeat_interval=heartbeat_interval,
                send_queue_limit=send_queue_limit,
                audit=audit,
                limits=limits,
                stats=stats,
            ),
            self.server,
        )

    async def stop(self, grace: float) -> None:
        """Close every agent's stream (they reconnect, here later or elsewhere), then stop."""
        for session in self._fleet:
            session.close("hub shutting down")
        await super().stop(grace)
