"""The `http` tool's plugin: one HTTP(S) request per task, with the standard library only (the
agent stays light)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from .... import __version__
from ....errors import TaskFailed
from ....model import FailureClass
from ..._api import PLUGIN_API_VERSION, Action, Detection, TaskContext
from ._policy import AddressPolicy, SettingError
from ._request import REQUEST_SCHEMA, Request, invalid


class HttpPlugin:
    """Action `request` sends one HTTP(S) request and returns the response.

    Inputs: `url` (http or https), `method` (default GET), `headers` (strings), `body` (text) or
    `json` (any value, sent as JSON), `timeout` (seconds for the whole request, default 30, at
    most 300), `fail_on_status` (default false), `follow_redirects` (default true, at most 10;
    credentials are dropped when a redirect leaves the origin).

    Outputs: `status`, `reason`, `url` (after redirects), `headers` (lower-case names, repeated
    ones joined with ", "), `body` (text; decoded with the response's charset, else UTF-8 with
    invalid bytes replaced; cut at 1 MiB), `truncated`, and `json` when the response says it is
    JSON and parses as such. The agent's HTTP(S)_PROXY / NO_PROXY environment is honoured.

    Only public addresses are connected to: loopback, private, link-local (cloud metadata),
    shared, unspecified, multicast and reserved ones are refused as `invalid_input`, also when
    a name resolves to one, when one is spelt another way (`2130706433`, `[::ffff:127.0.0.1]`)
    and at every redirect. The address checked is the address connected to. Agent settings
    (`[tools.http]`): `allow_networks`, a list of networks (`["10.1.0.0/16", "::1/128"]`) that
    may be connected to as well; `allow_private = true` to connect to any address.
    """

    name = "http"
    version = __version__
    api_version = PLUGIN_API_VERSION
    actions = (
        Action(name="request", description="Send an HTTP request", input_schema=REQUEST_SCHEMA),
    )
    default_action = "request"
    enabled_by_default = True

    async def detect(self, *, settings: Mapping[str, Any] | None = None) -> Detection:
        """Unavailable, saying why, when the agent's settings for the tool are wrong."""
        try:
            AddressPolicy.from_settings(settings or {})
        except SettingError as exc:
            return Detection(available=False, version="builtin", detail=str(exc))
        return Detection(available=True, version="builtin")

    async def run(self, ctx: TaskContext) -> Mapping[str, Any]:
        """Raises TaskFailed: `invalid_input` for bad inputs; `tool_error` when the server
        cannot be reached or breaks the protocol; `timeout` when the request outlives its
        timeout or the task's deadline; `cancelled` when `ctx.cancelled` is set (the
        connection is shut down). A non-2xx status succeeds unless `fail_on_status` is set;
        then 401/403 fail as `auth`, 429 as `quota` (retry time from Retry-After), others as
        `tool_error`. An address the agent does not allow is `invalid_input`, naming it and the
        setting that would allow it; a wrong setting is `tool_missing` (the tool is not usable
        on this agent as configured)."""
        action = ctx.action or self.default_action
        if action != "request":
            raise invalid(f"http: unknown action {action!r} (request)")
        try:
            policy = AddressPolicy.from_settings(ctx.settings)
        except SettingError as exc:
            raise TaskFailed(f"http: {exc}", failure_class=FailureClass.TOOL_MISSING) from None
        request = Request.from_inputs(ctx.inputs)
        timeout = request.timeout
        if ctx.deadline is not None:
            timeout = min(timeout, ctx.deadline - time.monotonic())
        if timeout <= 0:
            raise TaskFailed("http: deadline passed", failure_class=FailureClass.TIMEOUT)
        if ctx.cancelled.is_set():
            raise TaskFailed("http: cancelled", failure_class=FailureClass.CANCELLED)
        # Imported at the first request, not at agent start: see _fetch.
        from ._fetch import Sockets, fetch_response
        from ._response import status_failure

        what = request.what
        ctx.emit("log", what)
        sockets = Sockets()
        work = asyncio.to_thread(fetch_response, request, timeout, sockets, policy)
        fetch = asyncio.ensure_future(work)
        cancel = asyncio.ensure_future(ctx.cancelled.wait())
        try:
            await asyncio.wait(
                {fetch, cancel}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            if not fetch.done():
                # A thread cannot be cancelled: shutting its sockets down makes it return at
                # once, and we stop waiting for it either way (it ends by its own timeout).
                sockets.abort()
            fetch.cancel()
            cancel.cancel()
            await asyncio.wait({fetch, cancel})
        if not fetch.cancelled():
            response = fetch.result()  # raises the worker's TaskFailed
        elif ctx.cancelled.is_set():
            raise TaskFailed(f"http: {what}: cancelled", failure_class=FailureClass.CANCELLED)
        else:
            raise TaskFailed(
                f"http: {what}: timed out after {timeout:g}s", failure_class=FailureClass.TIMEOUT
            )

        ctx.emit(
            "log",
            f"{response.status} {response.reason} ({len(response.body)} bytes"
            f"{', truncated' if response.truncated else ''})",
        )
        if request.fail_on_status and not 200 <= response.status < 300:
            raise status_failure(what, response)
        return response.outputs()
