"""The dashboard RPC of `AdminService`: a one-time login link for the caller."""

from __future__ import annotations

from collections.abc import Callable

from ...errors import AuthError
from ...v1 import admin_pb2
from ..security import DashboardLogins, caller
from ._errors import Context, translating


class DashboardRpcs:
    """Part of the AdminService servicer (which sets `_logins` and `_http_port`)."""

    _logins: DashboardLogins
    _http_port: Callable[[], int]

    @translating
    async def CreateDashboardLogin(
        self, request: admin_pb2.CreateDashboardLoginRequest, context: Context
    ) -> admin_pb2.CreateDashboardLoginResponse:
        principal = caller()
        if principal is None:
            raise AuthError("log in first")
        return admin_pb2.CreateDashboardLoginResponse(
            code=self._logins.mint(principal.subject),
            http_port=self._http_port(),
            expires_in_seconds=self._logins.code_ttl,
        )
