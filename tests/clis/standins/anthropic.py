"""A stand-in for the Anthropic Messages API, enough for the real Claude Code to run against it.

`POST /v1/messages` (`stream: true`) answers in the API's SSE format: message_start,
content_block_start, content_block_delta (text_delta / input_json_delta), content_block_stop,
message_delta (stop_reason, usage), message_stop. Errors are the API's JSON body with its HTTP
status. Side requests: `HEAD /` (the CLI's connection warm-up), `count_tokens`, the model list;
anything else is a 404 in the API's error shape.

The scenario is a marker word in the conversation's latest user prompt, `scenario:NAME`
(default `plain`), so one stand-in serves every test of a module. A request for structured
output is the CLI's own side call (a session title): recorded as scenario `side`, answered with
a title.

- plain: answers `turn N: <prompt>`, N counting the user prompts in the conversation (a resumed
  session sends the earlier turns along, so its answer says `turn 2`).
- tool: asks for the Bash tool to run `echo tool-ran-42`, then answers with what the tool
  printed (`tool said: ...`), which only a CLI that really ran it can know.
- auth401 / badkey400: the API's answer to a bad key (401 authentication_error), and the same
  complaint as a 400 invalid_request_error.
- quota429: 429 rate_limit_error with a `retry-after` of RETRY_AFTER seconds.
- overloaded: 529 overloaded_error, the API's busy signal.
- cut: starts a stream, sends part of an answer, then drops the connection.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

MARKER: Final = re.compile(r"\bscenario:(\w+)")
RETRY_AFTER: Final = 3
TOOL_COMMAND: Final = "echo tool-ran-42"
_ERRORS: Final = {
    "auth401": (401, "authentication_error", "invalid x-api-key"),
    "badkey400": (400, "invalid_request_error", "invalid x-api-key"),
    "quota429": (429, "rate_limit_error", "Number of requests has exceeded your rate limit"),
    "overloaded": (529, "overloaded_error", "Overloaded"),
}


@dataclass
class Request:
    """One `POST /v1/messages` the stand-in answered."""

    scenario: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float = field(default_factory=time.time)  # when it arrived


@dataclass
class AnthropicStandIn:
    requests: list[Request] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        app.router.add_get("/v1/models", self._models)
        app.router.add_route("HEAD", "/", self._warm_up)
        app.router.add_route("*", "/{rest:.*}", self._not_found)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def of(self, scenario: str) -> list[Request]:
        return [r for r in self.requests if r.scenario == scenario]

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
            messages = body["messages"]
        except (ValueError, KeyError, TypeError):
            return _error(400, "invalid_request_error", "the body is no Messages API request")
        # A request for structured output is one of the CLI's own side calls (a session title).
        side = "format" in body.get("output_config", {})
        scenario = "side" if side else _scenario(messages)
        self.requests.append(Request(scenario, body, dict(request.headers)))
        if scenario in _ERRORS:
            status, kind, message = _ERRORS[scenario]
            headers = {"retry-after": str(RETRY_AFTER)} if status == 429 else {}
            return _error(status, kind, message, headers)
        stream = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await stream.prepare(request)
        model = str(body.get("model", "claude-standin"))
        if scenario == "cut":
            await stream.write(_sse("message_start", _message_start(model)))
            await stream.write(_sse("content_block_start", _block_start(0, _TEXT)))
            await stream.write(_sse("content_block_delta", _text_delta(0, "half an ans")))
            assert request.transport is not None
            request.transport.abort()  # no message_stop: the connection just ends
            return stream
        if side:
            blocks = [("text", json.dumps({"title": "Stand-in session"}))]
        elif scenario == "tool":
            output = _tool_output(messages)
            blocks = [_tool_use_block() if output is None else ("text", f"tool said: {output}")]
        else:
            prompts = _prompts(messages)
            blocks = [("text", f"turn {len(prompts)}: {prompts[-1] if prompts else ''}")]
        await _answer(stream, model, blocks)
        return stream

    async def _count_tokens(self, request: web.Request) -> web.Response:
        return web.json_response({"input_tokens": 12})

    async def _models(self, request: web.Request) -> web.Response:
        model = {"type": "model", "id": "claude-standin", "display_name": "Stand-in"}
        return web.json_response({"data": [model], "has_more": False})

    async def _warm_up(self, request: web.Request) -> web.Response:
        return web.Response()

    async def _not_found(self, request: web.Request) -> web.Response:
        return _error(404, "not_found_error", f"{request.method} {request.path} is not here")


@contextmanager
def serving() -> Iterator[AnthropicStandIn]:
    """The stand-in answering from a thread of its own, so a test may block (on photonctl)."""
    standin = AnthropicStandIn()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="anthropic-standin", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(standin.start(), loop).result(timeout=10)
    try:
        yield standin
    finally:
        asyncio.run_coroutine_threadsafe(standin.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


_TEXT: Final = {"type": "text", "text": ""}


def _scenario(messages: list[dict[str, Any]]) -> str:
    for prompt in reversed(_prompts(messages)):
        if match := MARKER.search(prompt):
            return match.group(1)
    return "plain"


def _prompts(messages: list[dict[str, Any]]) -> list[str]:
    """The user's own prompts: user text that is not a reminder the CLI added."""
    prompts = []
    for message in messages:
        if message.get("role") != "user":
            continue
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        texts = [
            b["text"]
            for b in blocks
            if b.get("type") == "text" and not b["text"].lstrip().startswith("<")
        ]
        if texts:
            prompts.append("\n".join(texts))
    return prompts


def _tool_output(messages: list[dict[str, Any]]) -> str | None:
    """The text of the tool result in the latest message, when it carries one."""
    if not messages or not isinstance(content := messages[-1].get("content"), list):
        return None
    for block in content:
        if block.get("type") == "tool_result":
            inner = block.get("content")
            if isinstance(inner, list):
                inner = "".join(b.get("text", "") for b in inner if b.get("type") == "text")
            return str(inner).strip()
    return None


def _tool_use_block() -> tuple[str, str]:
    return ("tool_use", json.dumps({"command": TOOL_COMMAND, "description": "Print a word"}))


async def _answer(stream: web.StreamResponse, model: str, blocks: list[tuple[str, str]]) -> None:
    await stream.write(_sse("message_start", _message_start(model)))
    for index, (kind, payload) in enumerate(blocks):
        if kind == "text":
            await stream.write(_sse("content_block_start", _block_start(index, _TEXT)))
            await stream.write(_sse("content_block_delta", _text_delta(index, payload)))
        else:
            start = {"type": "tool_use", "id": f"toolu_{index:02d}", "name": "Bash", "input": {}}
            await stream.write(_sse("content_block_start", _block_start(index, start)))
            delta = {"type": "input_json_delta", "partial_json": payload}
            await stream.write(_sse("content_block_delta", _delta(index, delta)))
        await stream.write(
            _sse("content_block_stop", {"type": "content_block_stop", "index": index})
        )
    stop_reason = "tool_use" if blocks[-1][0] == "tool_use" else "end_turn"
    message_delta = {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": {"output_tokens": 7},
    }
    await stream.write(_sse("message_delta", message_delta))
    await stream.write(_sse("message_stop", {"type": "message_stop"}))
    await stream.write_eof()


def _message_start(model: str) -> dict[str, Any]:
    message = {
        "id": "msg_standin",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 21, "output_tokens": 1},
    }
    return {"type": "message_start", "message": message}


def _block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def _text_delta(index: int, text: str) -> dict[str, Any]:
    return _delta(index, {"type": "text_delta", "text": text})


def _delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _error(
    status: int, kind: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return web.json_response(body, status=status, headers=headers)
