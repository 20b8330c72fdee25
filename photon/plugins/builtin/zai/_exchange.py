"""One chat request and its streamed response, over an asyncio connection of its own: the I/O,
with the decisions left to the pure modules below it."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from ....errors import TaskFailed
from ....model import FailureClass
from ..._api import TaskContext
from ._endpoint import Endpoint, Redactor
from ._failures import error_failure, finish_failure, os_reason
from ._http11 import Body, encode_request
from ._reply import Reply
from ._sse import SseDecoder, parse_chunk

_MAX_ERROR_BODY: Final = 64 * 1024
_MAX_HEADERS: Final = 100
# A partial line is emitted without waiting for its end once it is this long, or when the
# stream pauses for this long.
_FLUSH_CHARS: Final = 2000
_PAUSE_FLUSH: Final = 0.5

_T = TypeVar("_T")


@dataclass(slots=True, kw_only=True)
class Exchange:
    """One request and its streamed response."""

    endpoint: Endpoint
    key: str
    body: dict[str, Any]
    ctx: TaskContext
    redact: Redactor
    tls: ssl.SSLContext | None
    connect_timeout: float
    idle_timeout: float

    def _fail(self, message: str, failure_class: FailureClass, **extra: Any) -> TaskFailed:
        return TaskFailed(f"zai: {self.redact(message)}", failure_class=failure_class, **extra)

    async def run(self) -> Reply:
        """Send the request and stream the answer into events; raises TaskFailed classified.
        On cancellation the connection is aborted and CancelledError propagates."""
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
                f"cannot connect to {where}: {os_reason(exc)}", FailureClass.TOOL_ERROR
            ) from None
        try:
            writer.write(encode_request(self.endpoint, self.key, self.body))
            return await self._response(reader)
        except TimeoutError:
            raise self._fail(
                f"no data from {where} for {self.idle_timeout:g} s; request abandoned",
                FailureClass.TOOL_ERROR,
            ) from None
        except OSError as exc:
            raise self._fail(
                f"connection to {where} lost: {os_reason(exc)}", FailureClass.TOOL_ERROR
            ) from None
        finally:
            # Abort, not close: a cancelled or failed request must not wait for the peer.
            writer.transport.abort()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read(self, step: Awaitable[_T]) -> _T:
        async with asyncio.timeout(self.idle_timeout):
            return await step

    async def _response(self, reader: asyncio.StreamReader) -> Reply:
        status, reason, headers = await self._head(reader)
        body = Body(reader, headers)
        if status != 200 or "text/event-stream" not in headers.get("content-type", ""):
            raw = bytearray()
            while len(raw) < _MAX_ERROR_BODY and (piece := await self._read(body.read())):
                raw += piece
            raise self._error(status, reason, bytes(raw), headers)

        reply = Reply(model=str(self.body["model"]))
        thinking = _Lines(self.ctx, "thinking", self.redact)
        answer = _Lines(self.ctx, "log", self.redact)
        events = SseDecoder()
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
        bad_finish = finish_failure(reply.finish_reason)
        if bad_finish is not None:
            raise self._fail(bad_finish.detail, bad_finish.failure_class)
        if reply.usage:
            self.ctx.emit(
                "usage",
                f"{reply.usage.get('total_tokens', 0)} tokens",
                model=reply.model,
                **reply.usage,
            )
        return reply

    async def _next(self, body: Body, *lines: _Lines) -> bytes:
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

    def _on_event(self, data: str, reply: Reply, thinking: _Lines, answer: _Lines) -> None:
        chunk = parse_chunk(data)
        if chunk is None:
            return
        if chunk.error:
            raise self._error(200, "OK", data.encode(), {"content-type": "text/event-stream"})
        reply.add(chunk)
        if chunk.reasoning:
            thinking.feed(chunk.reasoning)
        if chunk.content:
            thinking.flush()  # the answer starts: the reasoning is over
            answer.feed(chunk.content)

    def _error(
        self, status: int, reason: str, raw: bytes, headers: Mapping[str, str]
    ) -> TaskFailed:
        failure = error_failure(status, reason, raw, headers)
        return self._fail(failure.detail, failure.failure_class, retry_at=failure.retry_at)


class _Lines:
    """Emits streamed text as events of one kind, a line at a time."""

    def __init__(self, ctx: TaskContext, kind: str, redact: Redactor) -> None:
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
