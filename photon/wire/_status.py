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
    RateLimitedError,
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
    (RateLimitedError, grpc.StatusCode.RESOURCE_EXHAUSTED),
)


# gRPC carries a status's message in a trailer, percent-encoded (three bytes for each byte
# outside printable ASCII), and a peer refuses trailers over its metadata limit (8 KiB by
# default): the caller would see RESOURCE_EXHAUSTED instead of the reason.
MAX_DETAILS_CHARS = 1000
MAX_DETAILS_ENCODED = 3000


def status_details(message: str) -> str:
    """`message` cut to what a status can carry whole: at most 1,000 characters and 3,000
    bytes once percent-encoded, saying how long it was."""
    if len(message) <= MAX_DETAILS_CHARS and sum(map(_encoded, message)) <= MAX_DETAILS_ENCODED:
        return message
    suffix = f"... ({len(message)} characters)"
    budget, kept = MAX_DETAILS_ENCODED - len(suffix), 0
    for char in message[: MAX_DETAILS_CHARS - len(suffix)]:
        budget -= _encoded(char)
        if budget < 0:
            break
        kept += 1
    return message[:kept] + suffix


def _encoded(char: str) -> int:
    """What one character costs in a percent-encoded trailer."""
    if " " <= char <= "~" and char != "%":
        return 1
    return 3 * len(char.encode("utf-8", "surrogatepass"))


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
