"""gRPC settings shared by hub, agent and client: the message limit and keepalive."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any, Final

import grpc
import grpc.aio

from .._address import listen_error, split_address
from ..errors import ConfigError
from ._decoding import DecodingGuard

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


class GrpcPort:
    """One gRPC server on one address, with grpc.health; services are added to `server`
    before `start()`."""

    def __init__(
        self,
        *,
        listen: str,
        credentials: grpc.ServerCredentials,
        interceptors: Sequence[grpc.aio.ServerInterceptor[Any, Any]] = (),
        options: Sequence[tuple[str, int]] = (),
    ) -> None:
        # grpcio-health-checking comes with the hub's extra, not with an agent's install.
        from grpc_health.v1 import health, health_pb2_grpc

        self._listen = listen
        self._credentials = credentials
        # The decoding guard first: it wraps what the others hand on.
        guard = DecodingGuard()
        self.server = grpc.aio.server(
            options=[*SERVER_OPTIONS, *options], interceptors=[guard, *interceptors]
        )
        self._health = health.aio.HealthServicer()  # type: ignore[attr-defined]
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self.server)

    async def start(self) -> int:
        """Bind and serve; the port bound (a free one for port 0). Raises ConfigError with one
        line when the address cannot be bound (in use, not ours)."""
        host, port = split_address(self._listen)
        if port:
            # gRPC's own bind only says that it failed; a plain socket says why. SO_REUSEADDR,
            # as gRPC sets it: connections of a hub that just stopped must not keep its port.
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            try:
                with socket.socket(family, socket.SOCK_STREAM) as probe:
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    probe.bind((host or ("::" if family == socket.AF_INET6 else "0.0.0.0"), port))  # noqa: S104
            except OSError as exc:
                raise listen_error(self._listen, exc) from None
        try:
            bound = self.server.add_secure_port(self._listen, self._credentials)
        except RuntimeError:
            raise ConfigError(f"cannot listen on {self._listen}") from None
        await self.server.start()
        return bound

    async def set_serving(self, serving: bool) -> None:
        from grpc_health.v1 import health_pb2

        status = health_pb2.HealthCheckResponse
        await self._health.set("", status.SERVING if serving else status.NOT_SERVING)

    async def stop(self, grace: float) -> None:
        """Refuse new calls; let those in flight finish for `grace` seconds, then cancel them."""
        await self.server.stop(grace)
