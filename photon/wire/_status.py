"""The one table between PHOTON errors and gRPC status codes (servers abort, clients raise)."""

from __future__ import annotations

import grpc

from ..errors import (
    AuthError,
    ConfigError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    PhotonError,
    StoreError,
    TransportError,
)

_TABLE: tuple[tuple[type[PhotonError], grpc.StatusCode], ...] = (
    (PermissionDeniedError, grpc.StatusCode.PERMISSION_DENIED),
    (AuthError, grpc.StatusCode.UNAUTHENTICATED),
    (NotFoundError, grpc.StatusCode.NOT_FOUND),
    (ConflictError, grpc.StatusCode.FAILED_PRECONDITION),
    (InvalidArgumentError, grpc.StatusCode.INVALID_ARGUMENT),
    (ConfigError, grpc.StatusCode.INVALID_ARGUMENT),
    (TransportError, grpc.StatusCode.UNAVAILABLE),
    (StoreError, grpc.StatusCode.UNAVAILABLE),
)


def status_for(error: PhotonError) -> grpc.StatusCode:
    for kind, code in _TABLE:
        if isinstance(error, kind):
            return code
    return grpc.StatusCode.INTERNAL


def error_for(code: grpc.StatusCode, message: str) -> PhotonError:
    """The PHOTON error a client raises for a failed call."""
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return TransportError(message)
    for kind, mapped in _TABLE:
        if mapped == code:
            return kind(message)
    return PhotonError(message)
