"""The api port: `AdminService`, `AuthService` and `EnrollService` over TLS, with health."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import grpc

from ...v1 import admin_pb2_grpc, auth_pb2_grpc, enroll_pb2_grpc
from ...wire import GrpcPort
from ..audit import AuditTrail
from ..core import DEFAULT_LIMITS, Limits
from ..fleet import Fleet
from ..secrets import Secrets
from ..security import (
    DashboardLogins,
    Enrolment,
    FairShare,
    TokenAuthority,
    Users,
    auth_throttle,
)
from ..store import Store
from ..tasks import TaskEngine
from ..workflows import WorkflowEngine
from ._admin import AdminServicer
from ._auth import AuthServicer
from ._enroll import EnrollServicer
from ._fair import FairShareGuard
from ._interceptor import AuthInterceptor


class ApiServer(GrpcPort):
    """Serves admins and joining agents; every admin call is checked against the policy."""

    def __init__(
        self,
        *,
        listen: str,
        key_pem: bytes,
        chain_pem: bytes,
        authority: TokenAuthority,
        users: Users,
        audit: AuditTrail,
        store: Store,
        fleet: Fleet,
        engine: TaskEngine,
        workflows: WorkflowEngine,
        secrets: Secrets,
        enrolment: Enrolment,
        ca_pin: str,
        api_addresses: Callable[[], Sequence[str]],
        mesh_addresses: Callable[[], Sequence[str]],
        logins: DashboardLogins,
        http_port: Callable[[], int],
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        super().__init__(
            listen=listen,
            credentials=grpc.ssl_server_credentials([(key_pem, chain_pem)]),
            # Fair shares after authentication: a caller it turns away costs no turn.
            interceptors=[AuthInterceptor(authority, users, audit), FairShareGuard(FairShare())],
        )
        server = self.server
        admin_pb2_grpc.add_AdminServiceServicer_to_server(
            AdminServicer(
                store=store,
                users=users,
                audit=audit,
                fleet=fleet,
                engine=engine,
                workflows=workflows,
                secrets=secrets,
                api_addresses=api_addresses,
                ca_pin=ca_pin,
                logins=logins,
                http_port=http_port,
                limits=limits,
            ),
            server,
        )
        auth_pb2_grpc.add_AuthServiceServicer_to_server(
            AuthServicer(
                store=store,
                authority=authority,
                users=users,
                audit=audit,
                throttle=auth_throttle(limits, "logins"),
            ),
            server,
        )
        enroll_pb2_grpc.add_EnrollServiceServicer_to_server(
            EnrollServicer(
                enrolment=enrolment,
                mesh_addresses=mesh_addresses,
                audit=audit,
                throttle=auth_throttle(limits, "joins"),
            ),
            server,
        )
