"""Authentication and authorisation of every call on the api port, from the policy table.

The one place where calls are admitted or denied: a denied call is logged here with who made
it and why, and an admitted one runs with its verified principal bound (`security.caller()`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

from ...errors import AuthError
from ...wire import status_details
from ..security import Principal, TokenAuthority, Users, bind_caller, required_role

log = logging.getLogger(__name__)
if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]


def _deny(code: grpc.StatusCode, message: str) -> Handler:
    async def abort(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort(code, status_details(message))

    return grpc.unary_unary_rpc_method_handler(abort)


def _bound(handler: Handler | None, principal: Principal) -> Handler | None:
    """The handler, run with `principal` as the caller."""
    if handler is None:
        return None
    options = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        unary = handler.unary_unary

        async def unary_unary(request: Any, context: Any) -> Any:
            bind_caller(principal)
            return await unary(request, context)

        return grpc.unary_unary_rpc_method_handler(unary_unary, **options)
    if handler.unary_stream is not None:
        stream = handler.unary_stream

        async def unary_stream(request: Any, context: Any) -> AsyncIterator[Any]:
            bind_caller(principal)
            async for item in stream(request, context):  # type: ignore[attr-defined]
                yield item

        return grpc.unary_stream_rpc_method_handler(unary_stream, **options)
    raise AssertionError("the api port serves unary and server-streaming RPCs only")


if TYPE_CHECKING:
    _Interceptor = grpc.aio.ServerInterceptor[Any, Any]
else:  # the runtime classes are not generic
    _Interceptor = grpc.aio.ServerInterceptor


class AuthInterceptor(_Interceptor):
    """Checks the bearer JWT and the role the policy table requires; unlisted RPCs are denied."""

    def __init__(self, authority: TokenAuthority, users: Users) -> None:
        self._authority = authority
        self._users = users

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        details: grpc.HandlerCallDetails,
    ) -> Handler:
        method: str = details.method
        try:
            needed = required_role(method)
        except AuthError as exc:
            return self._denied(grpc.StatusCode.PERMISSION_DENIED, method, None, str(exc))
        if needed is None:
            return await continuation(details)
        metadata = dict(details.invocation_metadata or ())
        header = str(metadata.get("authorization", ""))
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return self._denied(
                grpc.StatusCode.UNAUTHENTICATED, method, None, "missing bearer token; log in first"
            )
        try:
            principal = self._users.admit(self._authority.verify(token.strip()))
        except AuthError as exc:
            return self._denied(grpc.StatusCode.UNAUTHENTICATED, method, None, str(exc))
        if not principal.role.allows(needed):
            rpc = method.rsplit("/", 1)[-1]
            reason = f"role {principal.role} may not call {rpc} (needs {needed})"
            return self._denied(grpc.StatusCode.PERMISSION_DENIED, method, principal, reason)
        bound = _bound(await continuation(details), principal)
        assert bound is not None, "every RPC in the policy table is served"
        return bound

    def _denied(
        self, code: grpc.StatusCode, method: str, principal: Principal | None, reason: str
    ) -> Handler:
        who = (
            f"{principal.subject} ({principal.role})" if principal else "an unauthenticated caller"
        )
        log.warning("denied %r to %s: %s", method, who, reason)
        return _deny(code, reason)
