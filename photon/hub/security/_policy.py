"""Which role each RPC on the api port needs; an RPC missing from the table is denied."""

from __future__ import annotations

from ...errors import PermissionDeniedError
from ...model import Role

_ADMIN = "/photon.v1.AdminService/"
PUBLIC = None
# Every RPC served on the api port and the role it needs; PUBLIC ones carry their own credential
# (a join token, an API key) or reveal nothing. An RPC missing here is denied.
POLICY: dict[str, Role | None] = {
    "/photon.v1.EnrollService/Join": PUBLIC,
    "/photon.v1.AuthService/Login": PUBLIC,
    "/grpc.health.v1.Health/Check": PUBLIC,
    "/grpc.health.v1.Health/Watch": PUBLIC,
    "/grpc.health.v1.Health/List": PUBLIC,
    _ADMIN + "CreateJoinToken": Role.OPERATOR,
    _ADMIN + "ListJoinTokens": Role.VIEWER,
    _ADMIN + "RevokeJoinToken": Role.OPERATOR,
    _ADMIN + "CreateUser": Role.ADMIN,
    _ADMIN + "ListUsers": Role.ADMIN,
    _ADMIN + "CreateUserToken": Role.ADMIN,
    _ADMIN + "DeleteUser": Role.ADMIN,
    _ADMIN + "ListAudit": Role.ADMIN,
    _ADMIN + "VerifyAudit": Role.ADMIN,
    _ADMIN + "ListAgents": Role.VIEWER,
    _ADMIN + "GetAgent": Role.VIEWER,
    _ADMIN + "DrainAgent": Role.OPERATOR,
    _ADMIN + "UndrainAgent": Role.OPERATOR,
    _ADMIN + "RemoveAgent": Role.OPERATOR,
    _ADMIN + "SubmitTask": Role.OPERATOR,
    _ADMIN + "SubmitTasks": Role.OPERATOR,
    _ADMIN + "RunTask": Role.OPERATOR,
    _ADMIN + "GetTask": Role.VIEWER,
    _ADMIN + "ListTasks": Role.VIEWER,
    _ADMIN + "WatchTask": Role.VIEWER,
    _ADMIN + "WaitTasks": Role.VIEWER,
    _ADMIN + "CancelTask": Role.OPERATOR,
    _ADMIN + "SubmitWorkflow": Role.OPERATOR,
    _ADMIN + "GetWorkflow": Role.VIEWER,
    _ADMIN + "ListWorkflows": Role.VIEWER,
    _ADMIN + "CancelWorkflow": Role.OPERATOR,
    _ADMIN + "WatchWorkflow": Role.VIEWER,
    # Secrets: only admins change them; operators (who submit the tasks that reference them)
    # may see their names and versions, never a value; viewers see nothing of them.
    _ADMIN + "SetSecret": Role.ADMIN,
    _ADMIN + "ListSecrets": Role.OPERATOR,
    _ADMIN + "DeleteSecret": Role.ADMIN,
    _ADMIN + "ReportCost": Role.VIEWER,
    # A login for the dashboard as the caller: it sees and may do what the caller's role allows.
    _ADMIN + "CreateDashboardLogin": Role.VIEWER,
}


def required_role(method: str) -> Role | None:
    """The role an RPC needs (None: public). Raises PermissionDeniedError for unlisted RPCs."""
    try:
        return POLICY[method]
    except KeyError:
        raise PermissionDeniedError(f"{method} is not allowed by the policy") from None
