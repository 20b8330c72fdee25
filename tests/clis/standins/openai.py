"""A stand-in for the OpenAI Responses API, enough for the real Codex CLI to run against it.

`POST /v1/responses` (`stream: true`) answers in the API's SSE format: response.created,
response.output_item.added, response.output_text.delta, response.output_item.done and
response.completed (with usage). Errors are the API's JSON body
(`{"error": {"message", "type", "code"}}`) with its HTTP status. Anything else the CLI asks for
(a WebSocket upgrade, the model list) is a 404 in that shape, which codex takes as "not
offered" and goes on without.

The scenario is a marker word in the conversation's latest user prompt, `scenario:NAME`
(default `plain`), so one stand-in serves every test of a module:

- plain: answers `turn N: <prompt>`, N counting the user prompts in the conversation (a resumed
  thread sends the earlier turns along, so its answer says `turn 2`).
- tool: asks for codex's `exec_command` tool to run `echo tool-ran-42`, then answers with what
  the command printed (`tool said: ...`), which only a CLI that really ran it can know.
- escape: the same round with ESCAPE_COMMAND, a write outside the working directory.
- slow: the same round with SLOW_COMMAND, a command still running when its tool call returns.
- auth401 / badkey400: the API's answer to a bad key (401 invalid_api_key), and the same
  complaint as a 400.
- quota429: 429 rate_limit_exceeded, "Please try again in 3s." and `retry-after: 3`.
- ratelimit: the same limit reported in the stream (response.failed), as the API also does.
- usagelimit: a ChatGPT plan's usage limit (429 usage_limit_reached, resetting in 3 s).
- overloaded: 503, the API's busy signal.
- cut: starts a stream, sends part of an answer, then drops the connection.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

MARKER: Final = re.compile(r"\bscenario:(\w+)")
RETRY_AFTER: Final = 3
TOOL_COMMAND: Final = "echo tool-ran-42"
# Writes in the working directory, then beside it, which the workspace-write sandbox refuses.
ESCAPE_COMMAND: Final = "echo inside > kept.txt && touch ../escaped && echo wrote-outside"
# Runs long past its yield time (codex's tool returns while it still runs).
SLOW_COMMAND: Final = "sleep 317"
_COMMANDS: Final = {"tool": TOOL_COMMAND, "escape": ESCAPE_COMMAND, "slow": SLOW_COMMAND}
_ERRORS: Final = {
    "auth401": (401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    "badkey400": (400, "invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    "quota429": (
        429,
        "requests",
        "rate_limit_exceeded",
        f"Rate limit reached for requests. Please try again in {RETRY_AFTER}s.",
    ),
    "overloaded": (503, "server_error", "server_is_overloaded", "The server is overloaded."),
}


@dataclass
class Request:
    """One `POST /v1/responses` the stand-in answered."""

    scenario: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class OpenAIStandIn:
    """Serves on 127.0.0.1 (a free port) from its own thread, so sync tests can share it."""

    requests: list[Request] = field(default_factory=list)
    side_requests: list[str] = field(default_factory=list)
    url: str = ""
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None

    def start(self) -> str:
        """Start serving; returns the base URL codex is given (`http://127.0.0.1:PORT/v1`)."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), loop).result(timeout=10)
        return self.url

    def stop(self) -> None:
        if self._loop is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop.close()

    def of(self, scenario: str) -> list[Request]:
        return [r for r in self.requests if r.scenario == scenario]

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_route("*", "/{rest:.*}", self._not_found)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = site._server.sockets[0].getsockname()[:2]  # type: ignore[union-attr]
        self.url = f"http://{host}:{port}/v1"

    async def _not_found(self, request: web.Request) -> web.Response:
        self.side_requests.append(f"{request.method} {request.path}")
        return _error(404, "invalid_request_error", "not_found", f"no route {request.path}")

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        prompts = _user_prompts(body.get("input", []))
        match = MARKER.search(prompts[-1] if prompts else "")
        scenario = match.group(1) if match else "plain"
        self.requests.append(Request(scenario, body, dict(request.headers)))
        if scenario == "usagelimit":
            return web.json_response(_usage_limit(), status=429)
        if scenario in _ERRORS:
            status, kind, code, message = _ERRORS[scenario]
            headers = {"retry-after": str(RETRY_AFTER)} if status == 429 else {}
            return _error(status, kind, code, message, headers)
        stream = _Stream(await _open_stream(request), body.get("model", ""))
        if scenario in _COMMANDS:
            output = _tool_output(body.get("input", []))
            command = _COMMANDS[scenario]
            if output is None:
                # The longest wait codex allows, so the slow command is still running then.
                await stream.call("exec_command", {"cmd": command, "yield_time_ms": 30000})
            else:
                await stream.say(f"tool said: {output.strip()}")
        elif scenario == "ratelimit":
            await stream.fail("rate_limit_exceeded", _ERRORS["quota429"][3])
        elif scenario == "cut":
            await stream.say("this answer is cut", finish=False)
            assert request.transport is not None
            request.transport.close()
            return stream.response
        else:
            await stream.say(f"turn {len(prompts)}: {prompts[-1] if prompts else ''}")
        return stream.response


async def _open_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    return response


class _Stream:
    """One SSE answer: response.created, then items, then response.completed."""

    def __init__(self, response: web.StreamResponse, model: str) -> None:
        self.response, self.model, self._items, self._opened = response, model, 0, False

    async def _send(self, kind: str, data: dict[str, Any]) -> None:
        payload = json.dumps({"type": kind, **data})
        await self.response.write(f"event: {kind}\ndata: {payload}\n\n".encode())

    def _response(self, status: str, output: list[dict[str, Any]]) -> dict[str, Any]:
        response: dict[str, Any] = {
            "id": "resp_standin",
            "object": "response",
            "model": self.model,
            "status": status,
            "output": output,
        }
        if status == "completed":
            response["usage"] = {
                "input_tokens": 120,
                "input_tokens_details": {"cached_tokens": 20},
                "output_tokens": 7,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 127,
            }
        return response

    async def _open(self) -> None:
        await self._send("response.created", {"response": self._response("in_progress", [])})

    async def say(self, text: str, *, finish: bool = True) -> None:
        await self._open()
        item: dict[str, Any] = {
            "type": "message",
            "id": "msg_standin",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        await self._send("response.output_item.added", {"output_index": 0, "item": item})
        half = len(text) // 2
        for delta in (text[:half], text[half:]) if finish else (text[:half],):
            await self._send(
                "response.output_text.delta",
                {"item_id": "msg_standin", "output_index": 0, "content_index": 0, "delta": delta},
            )
        if not finish:
            return
        done = {
            **item,
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
        await self._send("response.output_item.done", {"output_index": 0, "item": done})
        await self._send("response.completed", {"response": self._response("completed", [done])})

    async def fail(self, code: str, message: str) -> None:
        await self._open()
        failed = {**self._response("failed", []), "error": {"code": code, "message": message}}
        await self._send("response.failed", {"response": failed})

    async def call(self, name: str, arguments: dict[str, Any]) -> None:
        await self._open()
        item = {
            "type": "function_call",
            "id": "fc_standin",
            "call_id": "call_standin",
            "name": name,
            "arguments": json.dumps(arguments),
            "status": "completed",
        }
        await self._send("response.output_item.added", {"output_index": 0, "item": item})
        await self._send("response.output_item.done", {"output_index": 0, "item": item})
        await self._send("response.completed", {"response": self._response("completed", [item])})


def _user_prompts(items: list[dict[str, Any]]) -> list[str]:
    """The texts the user typed, oldest first (codex's own context messages left out)."""
    prompts = []
    for item in items:
        if item.get("type") == "message" and item.get("role") == "user":
            text = "".join(
                part.get("text", "")
                for part in item.get("content", [])
                if part.get("type") == "input_text"
            )
            if not text.startswith("<"):  # <environment_context>, <user_instructions>, ...
                prompts.append(text)
    return prompts


def _tool_output(items: list[dict[str, Any]]) -> str | None:
    for item in reversed(items):
        if item.get("type") == "function_call_output":
            output = item.get("output")
            return output if isinstance(output, str) else json.dumps(output)
    return None


def _usage_limit() -> dict[str, Any]:
    return {
        "error": {
            "type": "usage_limit_reached",
            "message": "The usage limit has been reached",
            "plan_type": "plus",
            "resets_at": int(time.time()) + RETRY_AFTER,
            "resets_in_seconds": RETRY_AFTER,
        }
    }


def _error(
    status: int, kind: str, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.json_response(body, status=status, headers=headers)
