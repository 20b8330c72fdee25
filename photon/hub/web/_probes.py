"""/healthz, /readyz and /metrics: plain text for probes and Prometheus (GET and HEAD)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ._metrics import HubMetrics


def add_probes(app: web.Application, *, metrics: HubMetrics, ready: Callable[[], bool]) -> None:
    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        if ready():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="not ready\n")

    async def scrape(request: web.Request) -> web.Response:
        content_type, body = metrics.scrape()
        return web.Response(body=body, headers={"Content-Type": content_type})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", scrape)
