"""PHOTON errors to gRPC status codes for the servicers of this edge."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from ...errors import PhotonError
from ...wire import status_for

Request = TypeVar("Request")
Response = TypeVar("Response")
Context = grpc.aio.ServicerContext[Any, Any]


def translating(
    method: Callable[[Any, Request, Context], Awaitable[Response]],
) -> Callable[[Any, Request, Context], Awaitable[Response]]:
    """Turn PhotonErrors into the status code of the one error table."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Request, context: Context) -> Response:
        try:
            return await method(self, request, context)
        except PhotonError as exc:
            await context.abort(status_for(exc), str(exc))
            raise

    return wrapper
