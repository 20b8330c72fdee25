"""A local stand-in for the Gemini API, enough for the real Gemini CLI to run against it.

It answers `POST /v1beta/models/{model}:streamGenerateContent?alt=sse` with SSE chunks
(`data: {GenerateContentResponse}`), `:generateContent` (the CLI's side calls, e.g. its model
router) with one JSON document, `:countTokens`, and refuses anything else with a Google error.

The scenario is picked by a marker word in the prompt, `scenario:<name>`, so one stand-in serves
every test of a module; without a marker the model answers plainly.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

MARKER: Final = re.compile(r"scenario:([a-z_]+)")
ANSWER: Final = "Hello from the stand-in."
TOOL_ANSWER: Final = "The folder holds notes.txt."
RETRY_DELAY_SECONDS: Final = 2
_USAGE: Final = {"promptTokenCount": 120, "candidatesTokenCount": 8, "totalTokenCount": 128}
_ROUTE: Final = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):(?P<method>[A-Za-z]+)$")

# Scenario -> (HTTP status, Google status, message, details) for the error scenarios.
_ERRORS: Final[dict[str, tuple[int, str, str, list[dict[str, Any]]]]] = {
    "unauthenticated": (
        401,
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials.",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED",
                "domain": "googleapis.com",
            }
        ],
    ),
    "bad_key": (
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ],
    ),
    "rate_limited": (
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
        [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/generate_requests",
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": f"{RETRY_DELAY_SECONDS}s",
            },
        ],
    ),
    "overloaded": (503, "UNAVAILABLE", "The model is overloaded. Please try again later.", []),
}


@dataclass
class Seen:
    """One request the stand-in answered."""

    method: str
    model: str
    scenario: str
    body: dict[str, Any]


@dataclass
class GeminiStandin:
    """The stand-in server; `url` once started. `seen` lists the model calls, in order."""

    seen: list[Seen] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def calls(self, scenario: str) -> int:
        """How many model calls (streamed or not) a scenario's prompts made."""
        methods = ("generateContent", "streamGenerateContent")
        return sum(1 for s in self.seen if s.scenario == scenario and s.method in methods)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        route = _ROUTE.match(request.path)
        if request.method != "POST" or route is None:
            return _error(404, "NOT_FOUND", f"{request.method} {request.path} is not served here")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "INVALID_ARGUMENT", "the request body is not JSON")
        method, model = route["method"], route["model"]
        scenario = _scenario(body)
        self.seen.append(Seen(method=method, model=model, scenario=scenario, body=body))
        if method == "countTokens":
            return web.json_response({"totalTokens": _USAGE["promptTokenCount"]})
        if scenario in _ERRORS:
            return _error(*_ERRORS[scenario])
        if method == "generateContent":
            return web.json_response(_side_answer(body))
        if method != "streamGenerateContent":
            return _error(404, "NOT_FOUND", f"method {method} is not served here")
        return await self._stream(request, scenario, body)

    async def _stream(
        self, request: web.Request, scenario: str, body: dict[str, Any]
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for chunk in _chunks(scenario, body):
            await response.write(f"data: {json.dumps(chunk)}\r\n\r\n".encode())
        if scenario == "cut":
            # The connection drops mid-reply: no finishReason, no end of the stream.
            assert request.transport is not None
            request.transport.abort()
            return response
        await response.write_eof()
        return response


@contextmanager
def serving() -> Iterator[GeminiStandin]:
    """The stand-in on its own thread and event loop, so tests may block on subprocesses."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="gemini-standin", daemon=True)
    thread.start()
    standin = GeminiStandin()
    try:
        asyncio.run_coroutine_threadsafe(standin.start(), loop).result(10)
        yield standin
    finally:
        asyncio.run_coroutine_threadsafe(standin.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _scenario(body: dict[str, Any]) -> str:
    """The marker in the user's turns, "plain" without one."""
    for content in body.get("contents", []):
        if content.get("role") != "user":
            continue
        for part in content.get("parts", []):
            if isinstance(part.get("text"), str) and (found := MARKER.search(part["text"])):
                return found.group(1)
    return "plain"


def _answered_tool(body: dict[str, Any]) -> bool:
    """Whether the last turn carries a tool's result (the CLI ran the tool we asked for)."""
    contents = body.get("contents", [])
    return bool(contents) and any("functionResponse" in p for p in contents[-1].get("parts", []))


def _chunks(scenario: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    if scenario == "tool" and not _answered_tool(body):
        call = {"name": "list_directory", "args": {"dir_path": "."}}
        return [
            _chunk([{"text": "Let me look at the folder."}]),
            _chunk([{"functionCall": call}], finish=True),
        ]
    text = TOOL_ANSWER if scenario == "tool" else ANSWER
    half = len(text) // 2
    if scenario == "cut":
        return [_chunk([{"text": text[:half]}])]
    return [_chunk([{"text": text[:half]}]), _chunk([{"text": text[half:]}], finish=True)]


def _chunk(parts: list[dict[str, Any]], *, finish: bool = False) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    chunk: dict[str, Any] = {"candidates": [candidate], "modelVersion": "gemini-2.5-pro"}
    if finish:
        candidate["finishReason"] = "STOP"
        chunk["usageMetadata"] = _USAGE
    return chunk


def _side_answer(body: dict[str, Any]) -> dict[str, Any]:
    """A JSON answer for the CLI's own side calls (its model router asks for a complexity
    score as JSON)."""
    config = body.get("generationConfig", {})
    if config.get("responseMimeType") == "application/json":
        text = json.dumps({"complexity_reasoning": "a short request", "complexity_score": 10})
    else:
        text = "ok"
    return _chunk([{"text": text}], finish=True)


def _error(
    code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
) -> web.Response:
    error = {"code": code, "message": message, "status": status, "details": details or []}
    return web.json_response({"error": error}, status=code)
