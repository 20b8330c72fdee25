"""Server-sent events: each open view gets its snapshot again whenever it changes.

Bounded: at most `max_clients` streams at once (more get 503), a snapshot is computed at most
once per `interval` per view however many browsers watch it, and a browser that does not read
for `write_timeout` seconds is dropped, so a slow one never holds the hub's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ...errors import PhotonError

log = logging.getLogger(__name__)
MAX_CLIENTS = 32
INTERVAL = 1.0
WRITE_TIMEOUT = 5.0
KEEPALIVE = 15.0
MAX_CACHED = 256

Snapshot = Callable[[], Awaitable[dict[str, Any]]]


class Live:
    def __init__(
        self,
        *,
        max_clients: int = MAX_CLIENTS,
        interval: float = INTERVAL,
        write_timeout: float = WRITE_TIMEOUT,
    ) -> None:
        self._max_clients = max_clients
        self._interval = interval
        self._write_timeout = write_timeout
        self._clients = 0
        self._cache: dict[str, tuple[float, str]] = {}
        self._pending: dict[str, asyncio.Future[str]] = {}
        self.closing = asyncio.Event()

    async def _text(self, key: str, snapshot: Snapshot) -> str:
        """The view's snapshot as JSON, computed once per interval and shared."""
        cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < self._interval:
            return cached[1]
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            try:
                text = json.dumps(await snapshot(), separators=(",", ":"), default=str)
            except PhotonError as exc:
                text = json.dumps({"error": str(exc)})
            future.set_result(text)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it, nobody is warned about it
            raise
        finally:
            del self._pending[key]
        while len(self._cache) >= MAX_CACHED:
            del self._cache[next(iter(self._cache))]
        self._cache[key] = (time.monotonic(), text)
        return text

    async def stream(
        self,
        request: web.Request,
        key: str,
        snapshot: Snapshot,
        still_allowed: Callable[[], bool],
    ) -> web.StreamResponse:
        """Send the view until the browser goes, the hub stops or `still_allowed()` fails (the
        session ended, the user was deleted: the browser is told `logout`)."""
        if self._clients >= self._max_clients:
            return web.json_response(
                {"error": f"too many live dashboard views open (at most {self._max_clients})"},
                status=503,
            )
        self._clients += 1
        try:
            response = web.StreamResponse(
                headers={
                    "Content-Type": "text/event-stream",
                    "Cache-Control": "no-store",
                    "X-Accel-Buffering": "no",
                }
            )
            await response.prepare(request)
            last, sent_at = "", 0.0
            while not self.closing.is_set():
                transport = request.transport
                if transport is None or transport.is_closing():
                    break  # the browser went: its slot is free at once, not at the next write
                if not still_allowed():
                    await self._write(response, b"event: logout\ndata: {}\n\n")
                    break
                text = await self._text(key, snapshot)
                if text != last:
                    await self._write(response, f"data: {text}\n\n".encode())
                    last, sent_at = text, time.monotonic()
                elif time.monotonic() - sent_at > KEEPALIVE:
                    await self._write(response, b": keepalive\n\n")
                    sent_at = time.monotonic()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._interval):
                        await self.closing.wait()
            return response
        except (ConnectionError, TimeoutError) as exc:
            log.debug("dashboard stream %s ends: %r", key, exc)
            return response
        finally:
            self._clients -= 1

    async def _write(self, response: web.StreamResponse, data: bytes) -> None:
        async with asyncio.timeout(self._write_timeout):
            await response.write(data)
