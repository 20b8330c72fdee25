"""The `zai` tool: one chat completion from Z.AI (GLM) over HTTPS, streamed as server-sent events.

The agent stays light, so this speaks just enough HTTP/1.1 over asyncio streams: one POST per
task on its own connection (`Connection: close`), a chunked, length-delimited or close-delimited
response body, and an SSE decoder on top.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from ... import __version__
from ...errors import TaskFailed
from ...model import FailureClass
from .._api import PLUGIN_API_VERSION, Action, Detection, TaskContext

PLANS: Final[Mapping[str, str]] = {
    "general": "https://api.z.ai/api/paas/v4/",
    "coding": "https://api.z.ai/api/coding/paas/v4/",
    "mainland": "https://open.bigmodel.cn/api/paas/v4/",
}
DEFAULT_MODEL: Final = "glm-4.6"
KEY_NAME: Final = "ZAI_API_KEY"
BASE_URL_ENV: Final = "PHOTON_ZAI_BASE_URL"
# A task's `base_url` input may only pick another endpoint on these hosts (or on the configured
# endpoint's host): the request carries the agent's key, which must not go to a host a task names.
_ZAI_HOSTS: Final = frozenset({"api.z.ai", "open.bigmodel.cn"})

_MESSAGE_SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "properties": {
        "role": {"type": "string", "enum": ["system", "user", "assistant", "tool"]},
        "content": {"type": ["string", "array"]},
    },
    "required": ["role", "content"],
}
CHAT_SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "properties": {
        "prompt": {"type": "string", "minLength": 1},
        "messages": {"type": "array", "minItems": 1, "items": _MESSAGE_SCHEMA},
        "model": {"type": "string", "minLength": 1},
        "system": {"type": "string"},
        "max_tokens": {"type": "integer", "minimum": 1},
        "temperature": {"type": "number", "minimum": 0},
        "thinking": {"type": "boolean"},
        "base_url": {"type": "string", "minLength": 1},
    },
    # "prompt or messages", worded so a validator names the missing field.
    "if": {"not": {"required": ["messages"]}},
    "then": {"required": ["prompt"]},
    "additionalProperties": False,
}

# Z.AI business error codes (the `error.code` of an error body) and what they mean for us.
_CODE_CLASSES: Final[Mapping[str, FailureClass]] = {
    **{str(code): FailureClass.AUTH for code in range(1000, 1005)},
    "1113": FailureClass.QUOTA,  # account in arrears, or the key's plan lacks this endpoint
    "1211": FailureClass.INVALID_INPUT,  # no such model
    "1301": FailureClass.TOOL_ERROR,  # content flagged as sensitive
    "1302": FailureClass.QUOTA,  # too many concurrent requests
}
# finish_reason values that mean the answer is not usable.
_BAD_FINISH: Final[Mapping[str, str]] = {
    "sensitive": "the response was blocked as sensitive content",
    "network_error": "the model service reported a network error",
}

_CONNECT_TIMEOUT: Final = 30.0
_IDLE_TIMEOUT: Final = 300.0  # thinking models stream reasoning, so a long silence is a stall
_READ_CHUNK: Final = 64 * 1024
_MAX_ERROR_BODY: Final = 64 * 1024
_MAX_LINE: Final = 8 * 1024 * 1024
_MAX_HEADERS: Final = 100
_MAX_MESSAGE: Final = 500
# A partial line is emitted without waiting for its end once it is this long, or when the
# stream pauses for this long.
_FLUSH_CHARS: Final = 2000
_PAUSE_FLUSH: Final = 0.5

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
        body = _request_body(ctx.inputs, settings)
        endpoint = _endpoint(ctx.inputs, settings, self._environ)
        key = _api_key(ctx, self._environ)
        redact = _Redactor(key)
        exchange = _Exchange(
            endpoint=endpoint,
            key=key,
            body=body,
            ctx=ctx,
            redact=redact,
            tls=self._tls_context() if endpoint.tls else None,
            connect_timeout=_seconds(settings, "connect_timeout", _CONNECT_TIMEOUT),
            idle_timeout=_seconds(settings, "idle_timeout", _IDLE_TIMEOUT),
        )
        ctx.emit("status", f"zai: {body['model']} at {endpoint.host}")
        reply = await _until_stopped(exchange.run, deadline=ctx.deadline, cancelled=ctx.cancelled)
        return reply.outputs(redact)

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls


# -- inputs and settings ----------------------------------------------------------------------


def _invalid(message: str) -> TaskFailed:
    return TaskFailed(f"zai: {message}", failure_class=FailureClass.INVALID_INPUT)


def _request_body(inputs: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of the request, from validated inputs."""
    unknown = sorted(set(inputs) - set(CHAT_SCHEMA["properties"]))
    if unknown:
        raise _invalid(f"unknown input(s): {', '.join(unknown)}")
    prompt = inputs.get("prompt")
    history = inputs.get("messages")
    if prompt is None and history is None:
        raise _invalid("input 'prompt' or 'messages' is required")
    if prompt is not None and not (isinstance(prompt, str) and prompt):
        raise _invalid("input 'prompt' must be a non-empty string")
    messages: list[dict[str, Any]] = []
    system = inputs.get("system")
    if system is not None:
        if not isinstance(system, str):
            raise _invalid("input 'system' must be a string")
        messages.append({"role": "system", "content": system})
    if history is not None:
        if not (isinstance(history, list) and history):
            raise _invalid("input 'messages' must be a non-empty list of {role, content}")
        for index, message in enumerate(history):
            messages.append(_message(index, message))
    if prompt is not None:
        messages.append({"role": "user", "content": prompt})

    model = inputs.get("model", settings.get("model") or DEFAULT_MODEL)
    if not (isinstance(model, str) and model):
        raise _invalid("input 'model' must be a non-empty string")
    body: dict[str, Any] = {"model": model, "messages": messages, "stream": True}
    max_tokens = inputs.get("max_tokens")
    if max_tokens is not None:
        if not (_is_number(max_tokens) and isinstance(max_tokens, int) and max_tokens >= 1):
            raise _invalid("input 'max_tokens' must be a positive integer")
        body["max_tokens"] = max_tokens
    temperature = inputs.get("temperature")
    if temperature is not None:
        if not (_is_number(temperature) and temperature >= 0):
            raise _invalid("input 'temperature' must be a non-negative number")
        body["temperature"] = temperature
    thinking = inputs.get("thinking")
    if thinking is not None:
        if not isinstance(thinking, bool):
            raise _invalid("input 'thinking' must be true or false")
        body["thinking"] = {"type": "enabled" if thinking else "disabled"}
    return body


def _message(index: int, message: object) -> dict[str, Any]:
    where = f"input 'messages[{index}]'"
    if not isinstance(message, Mapping):
        raise _invalid(f"{where} must be an object with 'role' and 'content'")
    role = message.get("role")
    if role not in _MESSAGE_SCHEMA["properties"]["role"]["enum"]:
        raise _invalid(f"{where}: 'role' must be one of system, user, assistant, tool")
    if not isinstance(message.get("content"), str | list):
        raise _invalid(f"{where}: 'content' must be a string or a list of parts")
    return dict(message)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _seconds(settings: Mapping[str, Any], name: str, default: float) -> float:
    value = settings.get(name, default)
    if not (_is_number(value) and value > 0):
        raise TaskFailed(
            f"zai: setting {name!r} must be a positive number of seconds",
            failure_class=FailureClass.TOOL_ERROR,
        )
    return float(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Endpoint:
    tls: bool
    host: str
    port: int
    path: str  # of the chat completions resource

    @property
    def netloc(self) -> str:
        default = 443 if self.tls else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def _parse_url(url: str) -> _Endpoint | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return None
    if not _header_safe(parts.path) or " " in parts.path:
        return None  # it goes into the request line as it is
    tls = parts.scheme == "https"
    return _Endpoint(
        tls=tls,
        host=parts.hostname,
        port=port or (443 if tls else 80),
        path=parts.path.rstrip("/") + "/chat/completions",
    )


def _endpoint(
    inputs: Mapping[str, Any], settings: Mapping[str, Any], environ: Mapping[str, str]
) -> _Endpoint:
    """Where to send the request: settings, then the environment, then the general plan."""
    configured = settings.get("base_url")
    if configured is None and "plan" in settings:
        plan = settings["plan"]
        if plan not in PLANS:
            raise TaskFailed(
                f"zai: setting 'plan' must be one of {', '.join(PLANS)}, not {plan!r}",
                failure_class=FailureClass.TOOL_ERROR,
            )
        configured = PLANS[plan]
    if configured is None:
        configured = environ.get(BASE_URL_ENV) or PLANS["general"]
    base = _parse_url(str(configured))
    if base is None:
        raise TaskFailed(
            f"zai: base URL {configured!r} is not an http(s) URL",
            failure_class=FailureClass.TOOL_ERROR,
        )
    wanted = inputs.get("base_url")
    if wanted is None:
        return base
    override = _parse_url(wanted) if isinstance(wanted, str) else None
    if override is None:
        raise _invalid("input 'base_url' must be an http(s) URL")
    if (override.tls and override.host in _ZAI_HOSTS) or (
        (override.tls, override.host, override.port) == (base.tls, base.host, base.port)
    ):
        return override
    raise _invalid(
        "input 'base_url' must be an https URL on api.z.ai or open.bigmodel.cn,"
        " or on the configured endpoint's host"
    )


def _api_key(ctx: TaskContext, environ: Mapping[str, str]) -> str:
    variable = ctx.settings.get("api_key_env") or KEY_NAME
    key = ctx.secrets.get(KEY_NAME) or environ.get(str(variable))
    if key:
        if not _header_safe(key):
            raise TaskFailed(
                f"zai: the {KEY_NAME} value has characters an HTTP header cannot carry",
                failure_class=FailureClass.AUTH,
            )
        return key
    raise TaskFailed(
        f"zai: {KEY_NAME} not set (no task secret {KEY_NAME}, no ${variable} on the agent)",
        failure_class=FailureClass.AUTH,
    )


def _header_safe(text: str) -> bool:
    return text.isascii() and text.isprintable()


class _Redactor:
    """Removes the API key from any text that leaves the plugin (it is not always a task
    secret, so the context's own masking may not know it)."""

    def __init__(self, key: str) -> None:
        self._key = key

    def __call__(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text


# -- cancellation -----------------------------------------------------------------------------


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


# -- the exchange -----------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class _Reply:
    """What the stream has delivered so far."""

    model: str
    reasoning: list[str] = field(default_factory=list)
    content: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    finish_reason: str | None = None
    done: bool = False

    def outputs(self, redact: _Redactor) -> dict[str, Any]:
        return {
            "result": redact("".join(self.content)),
            "reasoning": redact("".join(self.reasoning)),
            "model": self.model,
            "usage": dict(self.usage),
            "finish_reason": self.finish_reason,
            "cost_usd": None,
        }


@dataclass(slots=True, kw_only=True)
class _Exchange:
    """One request and its streamed response."""

    endpoint: _Endpoint
    key: str
    body: dict[str, Any]
    ctx: TaskContext
    redact: _Redactor
    tls: ssl.SSLContext | None
    connect_timeout: float
    idle_timeout: float

    def _fail(self, message: str, failure_class: FailureClass, **extra: Any) -> TaskFailed:
        return TaskFailed(f"zai: {self.redact(message)}", failure_class=failure_class, **extra)

    async def run(self) -> _Reply:
        where = f"{self.endpoint.host}:{self.endpoint.port}"
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self.endpoint.host,
                    self.endpoint.port,
                    ssl=self.tls,
                    server_hostname=self.endpoint.host if self.tls else None,
                )
        except TimeoutError:
            raise self._fail(
                f"no connection to {where} within {self.connect_timeout:g} s",
                FailureClass.TOOL_ERROR,
            ) from None
        except OSError as exc:
            raise self._fail(
                f"cannot connect to {where}: {_os_reason(exc)}", FailureClass.TOOL_ERROR
            ) from None
        try:
            writer.write(self._request())
            return await self._response(reader)
        except TimeoutError:
            raise self._fail(
                f"no data from {where} for {self.idle_timeout:g} s; request abandoned",
                FailureClass.TOOL_ERROR,
            ) from None
        except OSError as exc:
            raise self._fail(
                f"connection to {where} lost: {_os_reason(exc)}", FailureClass.TOOL_ERROR
            ) from None
        finally:
            # Abort, not close: a cancelled or failed request must not wait for the peer.
            writer.transport.abort()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _request(self) -> bytes:
        payload = json.dumps(self.body, ensure_ascii=False).encode()
        head = (
            f"POST {self.endpoint.path} HTTP/1.1\r\n"
            f"Host: {self.endpoint.netloc}\r\n"
            f"Authorization: Bearer {self.key}\r\n"
            "Content-Type: application/json\r\n"
            "Accept: text/event-stream\r\n"
            f"User-Agent: photon-zai/{__version__}\r\n"
            f"Content-Length: {len(payload)}\r\n"
            "Connection: close\r\n\r\n"
        )
        return head.encode("latin-1") + payload

    async def _read(self, step: Awaitable[_T]) -> _T:
        async with asyncio.timeout(self.idle_timeout):
            return await step

    async def _response(self, reader: asyncio.StreamReader) -> _Reply:
        status, reason, headers = await self._head(reader)
        body = _Body(reader, headers)
        if status != 200 or "text/event-stream" not in headers.get("content-type", ""):
            raw = bytearray()
            while len(raw) < _MAX_ERROR_BODY and (piece := await self._read(body.read())):
                raw += piece
            raise self._error(status, reason, bytes(raw), headers)

        reply = _Reply(model=str(self.body["model"]))
        thinking = _Lines(self.ctx, "thinking", self.redact)
        answer = _Lines(self.ctx, "log", self.redact)
        events = _SseDecoder()
        try:
            while not reply.done and (piece := await self._next(body, thinking, answer)):
                for data in events.feed(piece):
                    self._on_event(data, reply, thinking, answer)
                    if reply.done:
                        break
            if not reply.done:
                for data in events.close():
                    self._on_event(data, reply, thinking, answer)
        finally:
            # What arrived is shown even when the stream fails or the task is stopped.
            thinking.flush()
            answer.flush()
        if not reply.done and reply.finish_reason is None:
            raise self._fail(
                "the stream ended before the response was complete (no finish_reason, no [DONE])",
                FailureClass.TOOL_ERROR,
            )
        bad_finish = _BAD_FINISH.get(reply.finish_reason or "")
        if bad_finish is not None:
            raise self._fail(
                f"{bad_finish} (finish_reason {reply.finish_reason})",
                FailureClass.TOOL_ERROR,
            )
        if reply.usage:
            self.ctx.emit(
                "usage",
                f"{reply.usage.get('total_tokens', 0)} tokens",
                model=reply.model,
                **reply.usage,
            )
        return reply

    async def _next(self, body: _Body, *lines: _Lines) -> bytes:
        """The next piece of the body; if the stream pauses meanwhile, text still waiting for
        its line end is emitted, so progress shows while the model thinks."""
        read = asyncio.ensure_future(body.read())
        try:
            if any(line.pending for line in lines):
                done, _ = await asyncio.wait({read}, timeout=_PAUSE_FLUSH)
                if not done:
                    for line in lines:
                        line.flush()
            return await self._read(read)
        finally:
            read.cancel()  # a no-op unless we are being stopped

    async def _head(self, reader: asyncio.StreamReader) -> tuple[int, str, dict[str, str]]:
        """The status, reason and headers (lower-case names) of the final response."""
        while True:
            line = await self._read(reader.readline())
            if not line:
                raise self._fail(
                    f"{self.endpoint.host} closed the connection without a response",
                    FailureClass.TOOL_ERROR,
                )
            parts = line.decode("latin-1").split(None, 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
                raise self._fail(
                    f"{self.endpoint.host} did not answer in HTTP", FailureClass.TOOL_ERROR
                )
            status = int(parts[1])
            headers: dict[str, str] = {}
            while (header := await self._read(reader.readline())).strip():
                if len(headers) >= _MAX_HEADERS:
                    raise self._fail(
                        f"{self.endpoint.host} sent too many headers", FailureClass.TOOL_ERROR
                    )
                name, _, value = header.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            if not 100 <= status < 200:
                return status, (parts[2].strip() if len(parts) > 2 else ""), headers

    def _on_event(self, data: str, reply: _Reply, thinking: _Lines, answer: _Lines) -> None:
        if data.strip() == "[DONE]":
            reply.done = True
            return
        try:
            event = json.loads(data)
        except ValueError:
            return  # not ours to interpret; streams may carry keep-alives and such
        if not isinstance(event, dict):
            return
        if isinstance(event.get("error"), Mapping):
            raise self._error(200, "OK", data.encode(), {"content-type": "text/event-stream"})
        if isinstance(event.get("model"), str) and event["model"]:
            reply.model = event["model"]
        choices = event.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else {}
        if isinstance(choice, Mapping):
            delta = choice.get("delta")
            if isinstance(delta, Mapping):
                reasoning = delta.get("reasoning_content")
                if isinstance(reasoning, str) and reasoning:
                    reply.reasoning.append(reasoning)
                    thinking.feed(reasoning)
                content = delta.get("content")
                if isinstance(content, str) and content:
                    thinking.flush()  # the answer starts: the reasoning is over
                    reply.content.append(content)
                    answer.feed(content)
            finish = choice.get("finish_reason")
            if isinstance(finish, str) and finish:
                reply.finish_reason = finish
        usage = event.get("usage")
        if isinstance(usage, Mapping):
            reply.usage = _usage(usage)

    def _error(
        self, status: int, reason: str, raw: bytes, headers: Mapping[str, str]
    ) -> TaskFailed:
        """The classified failure for an error response (or an error event in the stream)."""
        code, message = _error_fields(raw)
        if len(message) > _MAX_MESSAGE:
            message = message[:_MAX_MESSAGE] + "…"
        failure_class = _CODE_CLASSES.get(code) or _status_class(status)
        content_type = headers.get("content-type", "")
        if code:
            what = f"error {code}"
        elif status == 200 and "text/event-stream" not in content_type:
            what = f"expected an event stream, got {content_type or 'no content type'}"
        else:
            what = f"HTTP {status} {reason}".rstrip()
        detail = f"{what}: {message}" if message else what
        if code and status != 200:
            detail += f" (HTTP {status})"
        retry_at = None
        after = headers.get("retry-after", "")
        if failure_class is FailureClass.QUOTA and after.isdigit():
            retry_at = time.time() + int(after)
        return self._fail(detail, failure_class, retry_at=retry_at)


def _error_fields(raw: bytes) -> tuple[str, str]:
    """The (code, message) of an error body; the first line of a body that is not JSON."""
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        error = parsed.get("error")
        fields = error if isinstance(error, Mapping) else parsed
        message = fields.get("message") or fields.get("msg") or ""
        return str(fields.get("code") or ""), str(message)
    text = raw.decode("utf-8", "replace").strip()
    return "", text.splitlines()[0] if text else ""


def _status_class(status: int) -> FailureClass:
    if status in {401, 403}:
        return FailureClass.AUTH
    if status == 429:
        return FailureClass.QUOTA
    if status in {400, 404, 413, 422}:
        return FailureClass.INVALID_INPUT
    return FailureClass.TOOL_ERROR


def _usage(usage: Mapping[str, Any]) -> dict[str, int]:
    counts = {
        name: value
        for name in ("prompt_tokens", "completion_tokens", "total_tokens")
        if isinstance(value := usage.get(name), int) and not isinstance(value, bool)
    }
    details = usage.get("prompt_tokens_details")
    if isinstance(details, Mapping):
        cached = details.get("cached_tokens")
        if isinstance(cached, int) and not isinstance(cached, bool):
            counts["cached_tokens"] = cached
    return counts


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: {exc.reason}: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, socket.gaierror) or not (exc.errno and exc.errno > 0):
        return exc.strerror or str(exc) or type(exc).__name__
    # asyncio words a refused connection as "Connect call failed (address)"; the errno is clearer.
    return os.strerror(exc.errno)


# -- wire formats -----------------------------------------------------------------------------


class _Body:
    """A response body as raw pieces: chunked, Content-Length or read until the peer closes.

    A body cut short just ends; the stream decoder above decides whether that was complete.
    """

    def __init__(self, reader: asyncio.StreamReader, headers: Mapping[str, str]) -> None:
        self._reader = reader
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length", "")
        self._remaining = int(length) if length.isdigit() and not self._chunked else None
        self._chunk_left = 0
        self._ended = False

    async def read(self) -> bytes:
        """The next piece of the body; b"" at its end."""
        if self._ended:
            return b""
        try:
            piece = await self._next()
        except asyncio.IncompleteReadError as exc:
            piece = exc.partial
            self._ended = True
        if not piece:
            self._ended = True
        return piece

    async def _next(self) -> bytes:
        if not self._chunked:
            if self._remaining is None:
                return await self._reader.read(_READ_CHUNK)
            piece = await self._reader.read(min(self._remaining, _READ_CHUNK))
            self._remaining -= len(piece)
            return piece
        if self._chunk_left == 0:
            size_line = await self._reader.readline()
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                return b""  # the connection closed (or garbage): the body is over
            if size == 0:
                return b""
            self._chunk_left = size
        piece = await self._reader.read(min(self._chunk_left, _READ_CHUNK))
        self._chunk_left -= len(piece)
        if self._chunk_left == 0 and piece:
            try:
                await self._reader.readexactly(2)  # the CRLF after the chunk
            except asyncio.IncompleteReadError:
                self._ended = True
        return piece


class _SseDecoder:
    """Turns body bytes into the data of complete server-sent events."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._data: list[str] = []

    def feed(self, piece: bytes) -> list[str]:
        self._buffer += piece
        events: list[str] = []
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end]).rstrip(b"\r").decode("utf-8", "replace")
            del self._buffer[: end + 1]
            self._line(line, events)
        if len(self._buffer) > _MAX_LINE:
            raise TaskFailed(
                "zai: an event-stream line is longer than 8 MiB",
                failure_class=FailureClass.TOOL_ERROR,
            )
        return events

    def close(self) -> list[str]:
        """The data of an event whose closing blank line never came (a lenient end)."""
        events: list[str] = []
        self._line("", events)
        return events

    def _line(self, line: str, events: list[str]) -> None:
        if not line:
            if self._data:
                events.append("\n".join(self._data))
                self._data.clear()
            return
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value.removeprefix(" "))
        # Comments (":" lines) and other fields (event, id, retry) mean nothing here.


class _Lines:
    """Emits streamed text as events of one kind, a line at a time."""

    def __init__(self, ctx: TaskContext, kind: str, redact: _Redactor) -> None:
        self._ctx = ctx
        self._kind = kind
        self._redact = redact
        self._pending = ""

    def feed(self, text: str) -> None:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._emit(line)
        if len(self._pending) >= _FLUSH_CHARS:
            self.flush()

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def flush(self) -> None:
        if self._pending:
            self._emit(self._pending)
            self._pending = ""

    def _emit(self, line: str) -> None:
        if line.strip():
            self._ctx.emit(self._kind, self._redact(line))
