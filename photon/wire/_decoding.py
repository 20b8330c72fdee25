"""Bytes that are not the message an RPC expects get INVALID_ARGUMENT, not UNKNOWN.

gRPC answers a request it cannot deserialize with UNKNOWN ("Unexpected DecodeError") and logs
it as a server error; a peer's garbage is bad input, not our failure. `DecodingGuard` wraps
every handler of a server: what does not parse becomes an `Undecodable` marker, and the call is
refused with INVALID_ARGUMENT naming the message type before any servicer sees it.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
from google.protobuf.message import DecodeError

if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]
    _Interceptor = grpc.aio.ServerInterceptor[Any, Any]
else:  # the runtime classes are not generic
    _Interceptor = grpc.aio.ServerInterceptor


@dataclass(frozen=True, slots=True)
class Undecodable:
    """What arrived instead of a message of this type."""

    type_name: str

    @property
    def reason(self) -> str:
        return f"the request is not a valid {self.type_name} message"


def _safe(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None
    type_name = getattr(getattr(deserializer, "__self__", None), "__name__", "request")

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except (DecodeError, ValueError, RecursionError):
            return Undecodable(type_name)

    return deserialize


class _CheckedReads:
    """A servicer context whose `read()` refuses what did not parse."""

    def __init__(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self._context = context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    async def read(self) -> Any:
        message = await self._context.read()
        if isinstance(message, Undecodable):
            await self._context.abort(grpc.StatusCode.INVALID_ARGUMENT, message.reason)
        return message


async def _checked(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
    async for message in requests:
        if isinstance(message, Undecodable):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, message.reason)
        yield message


def guarded(handler: Handler | None) -> Handler | None:
    """The handler, refusing requests that do not parse."""
    if handler is None:
        return None
    options = {
        "request_deserializer": _safe(handler.request_deserializer),
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        unary = handler.unary_unary

        async def unary_unary(request: Any, context: Any) -> Any:
            if isinstance(request, Undecodable):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.reason)
            return await unary(request, context)

        return grpc.unary_unary_rpc_method_handler(unary_unary, **options)
    if handler.unary_stream is not None:
        server_stream = handler.unary_stream

        async def unary_stream(request: Any, context: Any) -> AsyncIterator[Any]:
            if isinstance(request, Undecodable):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.reason)
            async for item in server_stream(request, context):  # type: ignore[attr-defined]
                yield item

        return grpc.unary_stream_rpc_method_handler(unary_stream, **options)
    if handler.stream_stream is not None:
        both: Any = handler.stream_stream
        if inspect.isasyncgenfunction(both):

            async def stream_stream(requests: Any, context: Any) -> Any:
                async for item in both(_checked(requests, context), _CheckedReads(context)):
                    yield item

        else:  # reads and writes through the context

            async def stream_stream(requests: Any, context: Any) -> Any:  # type: ignore[misc]
                return await both(_checked(requests, context), _CheckedReads(context))

        return grpc.stream_stream_rpc_method_handler(stream_stream, **options)
    assert handler.stream_unary is not None
    client_stream: Any = handler.stream_unary

    async def stream_unary(requests: Any, context: Any) -> Any:
        return await client_stream(_checked(requests, context), _CheckedReads(context))

    return grpc.stream_unary_rpc_method_handler(stream_unary, **options)


class DecodingGuard(_Interceptor):
    """Installed first on every server, so it wraps what the other interceptors return."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        details: grpc.HandlerCallDetails,
    ) -> Handler:
        return guarded(await continuation(details))  # type: ignore[return-value]
