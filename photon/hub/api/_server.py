"""The api port: `AdminService`, `AuthService` and `EnrollService` over TLS, with health."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ...v1 import admin_pb2_grpc, auth_pb2_grpc, enroll_pb2_grpc
from ...wire import SERVER_OPTIONS, bind_port
from ..fleet import Fleet
from ..security import Enrolment, TokenAuthority
from ..store import Store
from ..tasks import TaskEngine
from ..workflows import WorkflowEngine
from ._admin import AdminServicer
from ._auth import AuthServicer
from ._enroll import EnrollServicer
from ._interceptor import AuthInterceptor


class ApiServer:
    """Serves admins and joining agents; every admin call is checked against the policy."""

    def __init__(
        self,
        *,
        listen: str,
        key_pem: bytes,
        chain_pem: bytes,
        authority: TokenAuthority,
        store: Store,
        fleet: Fleet,
        engine: TaskEngine,
        workflows: WorkflowEngine,
        enrolment: Enrolment,
        ca_pin: str,
        api_addresses: Callable[[], Sequence[str]],
        mesh_addresses: Callable[[], Sequence[str]],
    ) -> None:
        self._listen = listen
        self._credentials = grpc.ssl_server_credentials([(key_pem, chain_pem)])
        self._health = health.aio.HealthServicer()  # type: ignore[attr-defined]
        self._server = grpc.aio.server(
            options=SERVER_OPTIONS, interceptors=[AuthInterceptor(authority)]
        )
        admin_pb2_grpc.add_AdminServiceServicer_to_server(
            AdminServicer(
                store=store,
                fleet=fleet,
                engine=engine,
                workflows=workflows,
                api_addresses=api_addresses,
                ca_pin=ca_pin,
            ),
            self._server,
        )
        auth_pb2_grpc.add_AuthServiceServicer_to_server(
            AuthServicer(store=store, authority=authority), self._server
        )
        enroll_pb2_grpc.add_EnrollServiceServicer_to_server(
            EnrollServicer(enrolment=enrolment, mesh_addresses=mesh_addresses), self._server
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
        """Refuse new calls; let those in flight finish for `grace` seconds, then cancel them."""
        await self._server.stop(grace)
