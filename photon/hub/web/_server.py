"""The http port: health probes and Prometheus metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..._address import listen_error, split_address
from ._http import HttpEndpoint
from ._metrics import HubMetrics


class WebServer:
    """Answers /healthz, /readyz (`ready()`) and /metrics."""

    def __init__(self, *, listen: str, metrics: HubMetrics, ready: Callable[[], bool]) -> None:
        self._listen = listen
        self._endpoint = HttpEndpoint(metrics=metrics.scrape, ready=ready)
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Bind and start serving; the port bound. Raises ConfigError when it cannot bind."""
        host, port = split_address(self._listen)
        try:
            self._server = await asyncio.start_server(self._endpoint.handle, host or None, port)
        except OSError as exc:
            raise listen_error(self._listen, exc) from None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
