"""Each connection's calls held to its fair share of the api port (`security.FairShare`).

A unary call is charged the seconds from its arrival (before its request is read and decoded,
which a large one spends most of its time on) to its answer, less any wait for its turn; a
stream (a followed task) waits like any call when its connection is over its share, and is not
charged for how long it is followed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

from ..security import FairShare

if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]
    _Interceptor = grpc.aio.ServerInterceptor[Any, Any]
else:  # the runtime classes are not generic
    _Interceptor = grpc.aio.ServerInterceptor


async def _turn(fair: FairShare, flow: str) -> float:
    """Wait for the connection's turn; the seconds waited."""
    if (wait := fair.delay(flow, time.monotonic())) > 0:
        await asyncio.sleep(wait)
    return wait


def _paced(handler: Handler | None, fair: FairShare, arrived: float) -> Handler | None:
    if handler is None:
        return None
    options = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        unary = handler.unary_unary

        async def unary_unary(request: Any, context: Any) -> Any:
            flow = context.peer()
            waited = await _turn(fair, flow)
            try:
                return await unary(request, context)
            finally:
                now = time.monotonic()
                fair.charge(flow, now - arrived - waited, now)

        return grpc.unary_unary_rpc_method_handler(unary_unary, **options)
    if handler.unary_stream is not None:
        stream = handler.unary_stream

        async def unary_stream(request: Any, context: Any) -> AsyncIterator[Any]:
            await _turn(fair, context.peer())
            async for item in stream(request, context):  # type: ignore[attr-defined]
                yield item

        return grpc.unary_stream_rpc_method_handler(unary_stream, **options)
    raise AssertionError("the api port serves unary and server-streaming RPCs only")


class FairShareGuard(_Interceptor):
    def __init__(self, fair: FairShare) -> None:
        self._fair = fair

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        details: grpc.HandlerCallDetails,
    ) -> Handler:
        arrived = time.monotonic()
        handler = await continuation(details)
        return _paced(handler, self._fair, arrived)  # type: ignore[return-value]
