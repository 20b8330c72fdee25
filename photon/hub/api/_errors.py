"""PHOTON errors to gRPC status codes for the servicers of this edge.

Every status this edge sends goes through `abort`, which cuts its message to what a status can
carry (`wire.status_details`): a message quoting a huge request would otherwise overflow the
caller's metadata limit, and the caller would see RESOURCE_EXHAUSTED instead of the reason.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc

from ...errors import PhotonError
from ...wire import status_details, status_for

Request = TypeVar("Request")
Response = TypeVar("Response")
Context = grpc.aio.ServicerContext[Any, Any]


async def abort(context: Context, code: grpc.StatusCode, message: str) -> NoReturn:
    """End the call with `code` and `message`, cut to fit."""
    await context.abort(code, status_details(message))
    raise AssertionError("unreachable: abort raises")


async def abort_for(context: Context, error: PhotonError) -> NoReturn:
    """End the call with the status of the one error table for `error`."""
    await abort(context, status_for(error), str(error))


def translating(
    method: Callable[[Any, Request, Context], Awaitable[Response]],
) -> Callable[[Any, Request, Context], Awaitable[Response]]:
    """Turn PhotonErrors into the status code of the one error table."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Request, context: Context) -> Response:
        try:
            return await method(self, request, context)
        except PhotonError as exc:
            await abort_for(context, exc)

    return wrapper
