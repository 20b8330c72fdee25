"""The `zai` tool's plugin: one chat completion per task, stopped when the task is cancelled or
its deadline passes."""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, TypeVar

from .... import __version__
from ....errors import TaskFailed
from ....model import FailureClass
from ..._api import PLUGIN_API_VERSION, Action, Detection, TaskContext
from ._endpoint import KEY_NAME, Redactor, api_key, endpoint_for
from ._exchange import Exchange
from ._request import CHAT_SCHEMA, request_body, seconds

_CONNECT_TIMEOUT: Final = 30.0
_IDLE_TIMEOUT: Final = 300.0  # thinking models stream reasoning, so a long silence is a stall

_T = TypeVar("_T")


class ZaiPlugin:
    """Action `chat` sends the prompt (or messages) to Z.AI and streams the answer.

    Inputs: `prompt` and/or `messages` (a history of {role, content}; the prompt is appended as
    the last user message), `model`, `system`, `max_tokens`, `temperature`, `thinking`, and
    `base_url` (only a Z.AI host, or the configured endpoint's host).

    Settings: `base_url`, else `plan` ("general", "coding" or "mainland"), else the agent's
    environment variable PHOTON_ZAI_BASE_URL, else the general endpoint; `model` (default
    glm-4.6); `api_key_env` (default ZAI_API_KEY); `connect_timeout` and `idle_timeout`
    (seconds). The key is the task's secret ZAI_API_KEY, else that environment variable.

    Events: "status" once, "thinking" for reasoning and "log" for the answer (both by line),
    "usage" at the end. Outputs: `result`, `reasoning`, `model`, `usage`, `finish_reason`,
    `cost_usd` (always None: Z.AI reports no cost).
    """

    name = "zai"
    version = __version__
    api_version = PLUGIN_API_VERSION
    actions = (
        Action(
            name="chat",
            description="One chat completion from a GLM model, streamed",
            input_schema=CHAT_SCHEMA,
        ),
    )
    default_action = "chat"
    enabled_by_default = True

    def __init__(self, *, environ: Mapping[str, str] | None = None) -> None:
        # The entry point calls this with no arguments: the agent's own environment.
        self._environ = os.environ if environ is None else environ
        self._tls: ssl.SSLContext | None = None

    async def detect(self) -> Detection:
        if self._environ.get(KEY_NAME):
            return Detection(available=True, version=self.version)
        return Detection(available=False, detail=f"{KEY_NAME} not set")

    async def run(self, ctx: TaskContext) -> Mapping[str, Any]:
        """Raises TaskFailed: `invalid_input` for bad inputs or an unknown model, `auth` for a
        missing or rejected key, `quota` for arrears, a wrong plan or rate limits (with
        `retry_at` when the service says when), `tool_error` for an unreachable service,
        server errors and streams that end early, `timeout`/`cancelled` when the deadline
        passes or `ctx.cancelled` is set (the connection is closed at once). If the coroutine
        itself is cancelled the connection is closed and CancelledError propagates."""
        if ctx.action != "chat":
            raise TaskFailed(
                f"zai: unknown action {ctx.action!r}; the only action is 'chat'",
                failure_class=FailureClass.INVALID_INPUT,
            )
        settings = ctx.settings
        body = request_body(ctx.inputs, settings)
        endpoint = endpoint_for(ctx.inputs, settings, self._environ)
        key = api_key(ctx, self._environ)
        redact = Redactor(key)
        exchange = Exchange(
            endpoint=endpoint,
            key=key,
            body=body,
            ctx=ctx,
            redact=redact,
            tls=self._tls_context() if endpoint.tls else None,
            connect_timeout=seconds(settings, "connect_timeout", _CONNECT_TIMEOUT),
            idle_timeout=seconds(settings, "idle_timeout", _IDLE_TIMEOUT),
        )
        ctx.emit("status", f"zai: {body['model']} at {endpoint.host}")
        reply = await _until_stopped(exchange.run, deadline=ctx.deadline, cancelled=ctx.cancelled)
        return reply.outputs(redact)

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls


async def _until_stopped(
    work: Callable[[], Awaitable[_T]], *, deadline: float | None, cancelled: asyncio.Event
) -> _T:
    """Run `work` until it ends, the deadline passes or `cancelled` is set (then it is cancelled,
    which closes its connection, and TaskFailed timeout/cancelled is raised)."""
    if cancelled.is_set():
        raise TaskFailed("zai: cancelled", failure_class=FailureClass.CANCELLED)
    timeout = None if deadline is None else deadline - time.monotonic()
    if timeout is not None and timeout <= 0:
        raise TaskFailed("zai: deadline passed", failure_class=FailureClass.TIMEOUT)

    running = asyncio.ensure_future(work())
    stop = asyncio.ensure_future(cancelled.wait())
    try:
        await asyncio.wait({running, stop}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (running, stop):
            task.cancel()
        # Collects both outcomes, so neither is reported as never retrieved.
        await asyncio.gather(running, stop, return_exceptions=True)
    if not running.cancelled():
        return running.result()
    if cancelled.is_set():
        raise TaskFailed("zai: cancelled; request aborted", failure_class=FailureClass.CANCELLED)
    raise TaskFailed("zai: deadline passed; request aborted", failure_class=FailureClass.TIMEOUT)
