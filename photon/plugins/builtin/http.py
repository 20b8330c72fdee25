"""The `http` tool: one HTTP(S) request, with the standard library only (the agent stays light)."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ... import __version__
from ...errors import TaskFailed
from ...model import FailureClass
from .._api import PLUGIN_API_VERSION, Action, Detection, TaskContext

MAX_BODY_BYTES: Final = 1024 * 1024
DEFAULT_TIMEOUT: Final = 30
MAX_TIMEOUT: Final = 300
MAX_REDIRECTS: Final = 10
_METHOD = re.compile(r"[A-Za-z]{1,20}")

_REQUEST_SCHEMA: Final = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"},
        "method": {"type": "string", "pattern": "^[A-Za-z]{1,20}$", "default": "GET"},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "body": {"type": "string"},
        "json": {"description": "Sent as the JSON body, with Content-Type application/json"},
        "timeout": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": MAX_TIMEOUT,
            "default": DEFAULT_TIMEOUT,
        },
        "fail_on_status": {"type": "boolean", "default": False},
        "follow_redirects": {"type": "boolean", "default": True},
    },
    "required": ["url"],
    "additionalProperties": False,
}


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
    """

    name = "http"
    version = __version__
    api_version = PLUGIN_API_VERSION
    actions = (
        Action(name="request", description="Send an HTTP request", input_schema=_REQUEST_SCHEMA),
    )
    default_action = "request"
    enabled_by_default = True

    async def detect(self) -> Detection:
        return Detection(available=True, version="builtin")

    async def run(self, ctx: TaskContext) -> Mapping[str, Any]:
        """Raises TaskFailed: `invalid_input` for bad inputs; `tool_error` when the server
        cannot be reached or breaks the protocol; `timeout` when the request outlives its
        timeout or the task's deadline; `cancelled` when `ctx.cancelled` is set (the
        connection is shut down). A non-2xx status succeeds unless `fail_on_status` is set;
        then 401/403 fail as `auth`, 429 as `quota` (retry time from Retry-After), others as
        `tool_error`."""
        action = ctx.action or self.default_action
        if action != "request":
            raise _invalid(f"http: unknown action {action!r} (request)")
        request = _Request.from_inputs(ctx.inputs)
        timeout = request.timeout
        if ctx.deadline is not None:
            timeout = min(timeout, ctx.deadline - time.monotonic())
        if timeout <= 0:
            raise TaskFailed("http: deadline passed", failure_class=FailureClass.TIMEOUT)
        if ctx.cancelled.is_set():
            raise TaskFailed("http: cancelled", failure_class=FailureClass.CANCELLED)
        # Imported at the first request: see _http_fetch.
        from ._http_fetch import Sockets, fetch_response, status_failure

        what = f"{request.method} {request.url}"
        ctx.emit("log", what)
        sockets = Sockets()
        fetch = asyncio.ensure_future(asyncio.to_thread(fetch_response, request, timeout, sockets))
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


@dataclass(frozen=True, slots=True, kw_only=True)
class _Request:
    url: str
    method: str
    headers: Mapping[str, str]
    body: bytes | None
    timeout: float
    fail_on_status: bool
    follow_redirects: bool

    @classmethod
    def from_inputs(cls, inputs: Mapping[str, Any]) -> _Request:
        """Raises TaskFailed (invalid_input) naming the input."""
        url = inputs.get("url")
        if not isinstance(url, str) or not url:
            raise _invalid("input 'url' must be a non-empty string")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
            raise _invalid(f"input 'url' must be an http:// or https:// URL with a host: {url}")
        method = inputs.get("method", "GET")
        if not isinstance(method, str) or not _METHOD.fullmatch(method):
            raise _invalid("input 'method' must be an HTTP method such as GET or POST")
        headers = inputs.get("headers", {})
        if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise _invalid("input 'headers' must be an object of strings")
        if any(_has_line_break(k) or _has_line_break(v) for k, v in headers.items()):
            raise _invalid("input 'headers' must not contain line breaks")
        headers = dict(headers)
        if "body" in inputs and "json" in inputs:
            raise _invalid("inputs 'body' and 'json' cannot both be given")
        body: bytes | None = None
        if "body" in inputs:
            if not isinstance(inputs["body"], str):
                raise _invalid("input 'body' must be a string (use 'json' for structured data)")
            body = inputs["body"].encode()
        elif "json" in inputs:
            try:
                body = json.dumps(inputs["json"], allow_nan=False).encode()
            except (TypeError, ValueError) as exc:
                raise _invalid(f"input 'json' cannot be sent as JSON: {exc}") from None
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"
        timeout = inputs.get("timeout", DEFAULT_TIMEOUT)
        if (
            not isinstance(timeout, int | float)
            or isinstance(timeout, bool)
            or not 0 < timeout <= MAX_TIMEOUT
        ):
            raise _invalid(f"input 'timeout' must be a number of seconds in (0, {MAX_TIMEOUT:g}]")
        return cls(
            url=url,
            method=method.upper(),
            headers=headers,
            body=body,
            timeout=float(timeout),
            fail_on_status=_flag(inputs, "fail_on_status", False),
            follow_redirects=_flag(inputs, "follow_redirects", True),
        )


def _has_line_break(text: str) -> bool:
    return "\r" in text or "\n" in text


def _flag(inputs: Mapping[str, Any], key: str, default: bool) -> bool:
    value = inputs.get(key, default)
    if not isinstance(value, bool):
        raise _invalid(f"input {key!r} must be true or false")
    return value


def _tool_error(what: str, detail: str) -> TaskFailed:
    return TaskFailed(f"http: {what}: {detail}", failure_class=FailureClass.TOOL_ERROR)


def _invalid(message: str) -> TaskFailed:
    return TaskFailed(message, failure_class=FailureClass.INVALID_INPUT)
