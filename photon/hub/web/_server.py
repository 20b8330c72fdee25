"""The http port (aiohttp): health probes, Prometheus metrics and the Mission Control dashboard.

The port speaks plain HTTP: bind it to loopback, or put a TLS proxy in front of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from ..._address import listen_error, split_address
from ...errors import ConflictError, InvalidArgumentError, NotFoundError, PhotonError
from ...model import Role
from ._auth import Gate, Viewer, json_error
from ._live import Live
from ._metrics import HubMetrics
from ._parts import DashboardParts
from ._probes import add_probes
from ._samples import UtilisationRing
from ._snapshots import LastEvents, Views

log = logging.getLogger(__name__)
ASSETS = Path(__file__).parent / "assets"
SAMPLE_EVERY = 5.0
MAX_ID_LENGTH = 128
COST_GROUPS = ("tool", "agent", "workflow", "day")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
        " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_STATUS = {NotFoundError: 404, ConflictError: 409, InvalidArgumentError: 400}


@web.middleware
async def _headers(request: web.Request, handler: Callable[..., object]) -> web.StreamResponse:
    response = await handler(request)  # type: ignore[misc]
    assert isinstance(response, web.StreamResponse)
    if not response.prepared:
        response.headers.update(SECURITY_HEADERS)
    return response


def _error(exc: PhotonError) -> web.Response:
    status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 500)
    return json_error(status, str(exc))


def _object_id(request: web.Request) -> str:
    value = request.match_info.get("id", "") or request.query.get("id", "")
    if not value or len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise InvalidArgumentError("give a valid id")
    return value


class WebServer:
    """Answers /healthz, /readyz (`ready()`), /metrics and, given the hub's parts, the dashboard."""

    def __init__(
        self,
        *,
        listen: str,
        metrics: HubMetrics,
        ready: Callable[[], bool],
        parts: DashboardParts | None = None,
    ) -> None:
        self._listen = listen
        self._app = web.Application(middlewares=[_headers], client_max_size=64 * 1024)
        add_probes(self._app, metrics=metrics, ready=ready)
        self._runner: web.AppRunner | None = None
        self._live = Live()
        self._ring = UtilisationRing()
        self._sampler: asyncio.Task[None] | None = None
        self._parts = parts
        if parts is not None:
            last = LastEvents()
            parts.engine.observe(last.observe)
            self._views = Views(parts, self._ring, last)
            self._gate = Gate(logins=parts.logins, users=parts.users, audit=parts.audit)
            self._add_dashboard(parts)

    def _add_dashboard(self, parts: DashboardParts) -> None:
        router, gate, viewer = self._app.router, self._gate, Role.VIEWER
        router.add_get("/", self._index)
        router.add_static("/assets/", ASSETS, append_version=False)
        router.add_get("/login", gate.login)
        router.add_post("/logout", gate.logout)
        router.add_get("/api/me", gate.guard(viewer, "see", self._me))
        router.add_get("/api/stream", gate.guard(viewer, "see", self._stream))
        router.add_get("/api/cost.csv", gate.guard(viewer, "see", self._cost_csv))
        operator = Role.OPERATOR
        router.add_post("/api/tasks/{id}/cancel", gate.guard(operator, "cancel_task", self._cancel))
        router.add_post(
            "/api/workflows/{id}/cancel",
            gate.guard(operator, "cancel_workflow", self._cancel_workflow),
        )
        router.add_post("/api/agents/{id}/drain", gate.guard(operator, "drain_agent", self._drain))
        router.add_post(
            "/api/agents/{id}/undrain", gate.guard(operator, "drain_agent", self._drain)
        )

    async def start(self) -> int:
        """Bind and start serving; the port bound. Raises ConfigError when it cannot bind."""
        host, port = split_address(self._listen)
        self._runner = web.AppRunner(
            self._app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host or None, port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise listen_error(self._listen, exc) from None
        if self._parts is not None:
            self._sampler = asyncio.create_task(self._sample(self._parts))
        return int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        self._live.closing.set()
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
        if self._runner is not None:
            await self._runner.cleanup()

    async def _sample(self, parts: DashboardParts) -> None:
        while True:
            self._ring.sample(parts.fleet.views(), time.time())
            await asyncio.sleep(SAMPLE_EVERY)

    # -- pages and views ----------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(ASSETS / "index.html", headers={"Cache-Control": "no-store"})

    async def _me(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        return web.json_response(
            {"user": viewer.user, "role": viewer.role.value, "csrf": viewer.session.csrf},
            headers={"Cache-Control": "no-store"},
        )

    async def _stream(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        views = self._views
        view = request.query.get("view", "")
        simple = {
            "operations": views.operations,
            "platforms": views.platforms,
            "agents": views.agents,
            "workflows": views.workflows,
            "cost": views.cost,
        }
        try:
            if view in simple:
                key, snapshot = view, simple[view]
            elif view in ("task", "workflow"):
                object_id = _object_id(request)
                key = f"{view}:{object_id}"
                if view == "task":
                    snapshot = lambda: views.task(object_id)  # noqa: E731
                else:
                    snapshot = lambda: views.workflow(object_id)  # noqa: E731
            else:
                raise InvalidArgumentError(f"no view named {view[:40]!r}")
        except PhotonError as exc:
            return _error(exc)
        assert self._parts is not None
        self._parts.audit.record(viewer.user, "dashboard.view", target=key, deferred=True)
        return await self._live.stream(
            request, key, snapshot, lambda: self._gate.viewer(request) is not None
        )

    async def _cost_csv(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        group = request.query.get("by", "tool")
        if group not in COST_GROUPS:
            return json_error(400, f"by must be one of {', '.join(COST_GROUPS)}")
        table = (await self._views.cost())["cost"][group]
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([group, "usd", "tokens", "runs"])
        for row in table:
            writer.writerow(
                [_csv_cell(str(row["key"])), f"{row['usd']:.6f}", row["tokens"], row["runs"]]
            )
        return web.Response(
            text=out.getvalue(),
            content_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="photon-cost-by-{group}.csv"'},
        )

    # -- actions ------------------------------------------------------------------------------

    async def _cancel(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        assert self._parts is not None
        try:
            task = await self._parts.engine.cancel(_object_id(request))
        except PhotonError as exc:
            return _error(exc)
        return web.json_response({"id": task.id, "state": task.state.value})

    async def _cancel_workflow(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        assert self._parts is not None
        try:
            snapshot = await self._parts.workflows.cancel(_object_id(request))
        except PhotonError as exc:
            return _error(exc)
        return web.json_response({"id": snapshot.record.id, "state": snapshot.record.state.value})

    async def _drain(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        parts = self._parts
        assert parts is not None
        draining = request.path.endswith("/drain")
        try:
            agent_id = _object_id(request)
            agents = [a for a in await parts.store.list_agents() if a.id == agent_id]
            if not agents or agents[0].removed:
                raise NotFoundError(f"agent {agent_id} not found")
            agent = await parts.engine.set_draining(agents[0], draining)
        except PhotonError as exc:
            return _error(exc)
        return web.json_response({"id": agent.id, "draining": agent.draining})


def _csv_cell(text: str) -> str:
    """A cell a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
