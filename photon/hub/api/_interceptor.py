"""Authentication and authorisation of every call on the api port, from the policy table.

The one place where calls are admitted or denied: a denied call is logged here with who made
it and why, and an admitted one runs with its verified principal bound (`security.caller()`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

from ...errors import AuthError
from ...model import Role
from ...wire import status_details
from ..audit import AuditTrail
from ..security import Principal, TokenAuthority, Users, bind_caller, required_role
from ._audit import target_of

log = logging.getLogger(__name__)
if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]


def _deny(code: grpc.StatusCode, message: str) -> Handler:
    async def abort(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort(code, status_details(message))

    return grpc.unary_unary_rpc_method_handler(abort)


def _outcome(context: Any) -> str:
    code = context.code()
    return getattr(code, "name", str(code)) if code else "failed"


def _bound(
    handler: Handler | None, principal: Principal, audit: AuditTrail, rpc: str, mutating: bool
) -> Handler | None:
    """The handler, run with `principal` as the caller and recorded in the audit trail. A
    mutating call answers only once its record is committed: a call that cannot be recorded
    fails (with the store's error) rather than go unrecorded."""
    if handler is None:
        return None
    options = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    action = f"admin.{rpc}"

    def recorded(request: Any) -> asyncio.Future[None]:
        # Queued before the call changes anything: committed with that change, or before it.
        return audit.record(
            principal.subject, action, target=target_of(request), outcome="allowed", deferred=True
        )

    def failed(request: Any, context: Any) -> None:
        outcome = _outcome(context)
        audit.record(
            principal.subject, action, target=target_of(request), outcome=outcome, deferred=True
        )

    if handler.unary_unary is not None:
        unary = handler.unary_unary

        async def unary_unary(request: Any, context: Any) -> Any:
            bind_caller(principal)
            record = recorded(request)
            try:
                response = await unary(request, context)
            except BaseException:
                failed(request, context)
                raise
            if mutating:
                await audit.written(record)
            return response

        return grpc.unary_unary_rpc_method_handler(unary_unary, **options)
    if handler.unary_stream is not None:
        stream = handler.unary_stream

        async def unary_stream(request: Any, context: Any) -> AsyncIterator[Any]:
            bind_caller(principal)
            record = recorded(request)
            try:
                async for item in stream(request, context):  # type: ignore[attr-defined]
                    if mutating:  # the record commits alongside the call's own writes
                        await audit.written(record)
                    yield item
            except Exception:  # not a cancellation: a caller that stops following is no failure
                failed(request, context)
                raise

        return grpc.unary_stream_rpc_method_handler(unary_stream, **options)
    raise AssertionError("the api port serves unary and server-streaming RPCs only")


if TYPE_CHECKING:
    _Interceptor = grpc.aio.ServerInterceptor[Any, Any]
else:  # the runtime classes are not generic
    _Interceptor = grpc.aio.ServerInterceptor


class AuthInterceptor(_Interceptor):
    """Checks the bearer JWT and the role the policy table requires; unlisted RPCs are denied."""

    def __init__(self, authority: TokenAuthority, users: Users, audit: AuditTrail) -> None:
        self._authority = authority
        self._users = users
        self._audit = audit

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
        if needed is None:  # public: Join and Login are recorded by their own services
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
        rpc = method.rsplit("/", 1)[-1]
        if not principal.role.allows(needed):
            reason = f"role {principal.role} may not call {rpc} (needs {needed})"
            return self._denied(grpc.StatusCode.PERMISSION_DENIED, method, principal, reason)
        mutating = needed is not Role.VIEWER
        bound = _bound(await continuation(details), principal, self._audit, rpc, mutating)
        assert bound is not None, "every RPC in the policy table is served"
        return bound

    def _denied(
        self, code: grpc.StatusCode, method: str, principal: Principal | None, reason: str
    ) -> Handler:
        who = (
            f"{principal.subject} ({principal.role})" if principal else "an unauthenticated caller"
        )
        log.warning("denied %r to %s: %s", method, who, reason)
        self._audit.record(
            principal.subject if principal else "-",
            f"admin.{method.rsplit('/', 1)[-1]}",
            outcome="denied",
            detail={"reason": reason},
            deferred=True,
        )
        return _deny(code, reason)
