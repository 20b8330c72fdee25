"""gRPC settings shared by hub, agent and client: the message limit and keepalive."""

from __future__ import annotations

import socket
from typing import Final

import grpc
import grpc.aio

from .._address import listen_error, split_address
from ..errors import ConfigError

EOF: Final[object] = grpc.aio.EOF  # type: ignore[attr-defined]  # missing from grpc-stubs

MAX_MESSAGE_BYTES = 4 * 1024 * 1024

CHANNEL_OPTIONS: list[tuple[str, int]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]

SERVER_OPTIONS: list[tuple[str, int]] = [
    *CHANNEL_OPTIONS,
    # Let clients ping every 10 s or more without being told off (GOAWAY too_many_pings).
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.min_time_between_pings_ms", 10_000),
    # A port another process holds must fail the bind, not be shared with it.
    ("grpc.so_reuseport", 0),
]


def bind_port(server: grpc.aio.Server, address: str, credentials: grpc.ServerCredentials) -> int:
    """Bind a gRPC server to `host:port`; the port bound (the given one, or a free one for 0).

    Raises ConfigError with one line when the address cannot be bound (in use, not ours).
    """
    host, port = split_address(address)
    if port:
        # gRPC's own bind only says that it failed; a plain socket says why. SO_REUSEADDR, as
        # gRPC sets it: connections of a hub that just stopped must not keep its port.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((host or ("::" if family == socket.AF_INET6 else "0.0.0.0"), port))  # noqa: S104
        except OSError as exc:
            raise listen_error(address, exc) from None
    try:
        return server.add_secure_port(address, credentials)
    except RuntimeError:
        raise ConfigError(f"cannot listen on {address}") from None
