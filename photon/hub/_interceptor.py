"""Authentication and authorisation of every call on the api port, from the policy table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

from ..errors import AuthError
from ._auth import TokenAuthority, required_role


def _deny(code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler[Any, Any]:
    async def abort(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort(code, message)

    return grpc.unary_unary_rpc_method_handler(abort)


if TYPE_CHECKING:
    _Interceptor = grpc.aio.ServerInterceptor[Any, Any]
else:  # the runtime class is not generic
    _Interceptor = grpc.aio.ServerInterceptor


class AuthInterceptor(_Interceptor):
    """Checks the bearer JWT and the role the policy table requires; unlisted RPCs are denied."""

    def __init__(self, authority: TokenAuthority) -> None:
        self._authority = authority

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        method: str = details.method
        try:
            needed = required_role(method)
        except AuthError as exc:
            return _deny(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        if needed is None:
            return await continuation(details)
        metadata = dict(details.invocation_metadata or ())
        header = str(metadata.get("authorization", ""))
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _deny(grpc.StatusCode.UNAUTHENTICATED, "missing bearer token; log in first")
        try:
            principal = self._authority.verify(token.strip())
        except AuthError as exc:
            return _deny(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        if not principal.role.allows(needed):
            return _deny(
                grpc.StatusCode.PERMISSION_DENIED,
                f"role {principal.role} may not call {method.rsplit('/', 1)[-1]} (needs {needed})",
            )
        return await continuation(details)
