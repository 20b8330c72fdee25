"""A fake Z.AI chat-completions endpoint: SSE streaming, a bearer key, and failure scenarios.

Standard library only, so it also runs on its own:

    python tests/fakes/zai_server.py --port 8123 [--key k-test-123]

and serves http://127.0.0.1:8123/api/paas/v4/ until interrupted. From tests:

    with FakeZaiServer() as server:
        settings = {"base_url": server.url}

The scenario is the request's `X-Fake-Scenario` header, else its model name:

- any other model (e.g. "glm-4.6"): success. Reasoning (unless `thinking` is disabled), then
  content that echoes the last user message, then finish_reason "stop" with usage, then
  [DONE]. Chunked encoding, every event split over two chunks (mid-character for non-ASCII).
- "noise": success with SSE comments, event/id fields, CRLF line ends, an event whose data
  spans two `data:` lines, and a data line that is not JSON.
- "close-delimited": success without chunked encoding; the body ends when the server closes.
- "fail-401" (HTTP 401, code 1000), "fail-1113" (429), "fail-1211" (400), "fail-1301" (400),
  "fail-1302" (429): a Z.AI error body {"error": {"code", "message"}}.
- "fail-429": HTTP 429, code 1305 and `Retry-After: 30`.
- "fail-500": HTTP 500 with code 500; "fail-502": HTTP 502 with an HTML page.
- "fail-leak": HTTP 401, code 1002, with the received Authorization header in the message.
- "stream-error": one content chunk, then an error event (code 1301) in the stream.
- "sensitive": one content chunk, then finish_reason "sensitive" and [DONE].
- "slow": one reasoning chunk, then a stall of `stall_seconds` (60) before finishing; a client
  that hangs up meanwhile sets `client_gone`.
- "cut": reasoning and content, then the connection closes: no finish_reason, no [DONE].

`tls` (a server-side SSLContext) serves https instead; "slow" then cannot notice a hang-up.

A wrong or missing key gets HTTP 401 code 1002 whatever the scenario.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_KEY = "k-test-123"
BASE_PATH = "/api/paas/v4"

_ERRORS: dict[str, tuple[int, str, str]] = {
    "fail-401": (401, "1000", "Authentication failed"),
    "fail-1113": (429, "1113", "Your account is in arrears or has no resource package"),
    "fail-1211": (400, "1211", "Model does not exist, please check the model code"),
    "fail-1301": (400, "1301", "The input contains unsafe or sensitive content"),
    "fail-1302": (429, "1302", "Too many concurrent requests for this API key"),
    "fail-429": (429, "1305", "Rate limit reached, retry later"),
    "fail-500": (500, "500", "Internal server error"),
}


@dataclass(frozen=True)
class Received:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeZaiServer:
    """Serves the scenarios above on `host`:`port` (0: any free port) from a thread."""

    def __init__(
        self,
        *,
        key: str = DEFAULT_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
        stall_seconds: float = 60.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.key = key
        self.scheme = "https" if tls else "http"
        self.stall_seconds = stall_seconds
        self.requests: list[Received] = []
        self.client_gone = threading.Event()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._httpd = _Server((host, port), _Handler)
        self._httpd.fake = self
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{BASE_PATH}/"

    def record(self, received: Received) -> None:
        with self._lock:
            self.requests.append(received)

    def start(self) -> FakeZaiServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # wakes stalled handlers
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()  # joins the handler threads

    def __enter__(self) -> FakeZaiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # so server_close() waits for every handler
    block_on_close = True
    fake: FakeZaiServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- request ------------------------------------------------------------------------------

    def do_POST(self) -> None:
        fake = self.server.fake
        self.close_connection = True
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        fake.record(Received(self.path, headers, body if isinstance(body, dict) else {}))
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._error(404, "404", f"no such path {self.path}")
            return
        if not isinstance(body, dict):
            self._error(400, "1210", "request body is not a JSON object")
            return
        if headers.get("authorization") != f"Bearer {fake.key}":
            self._error(401, "1002", "Invalid API key")
            return
        scenario = headers.get("x-fake-scenario") or str(body.get("model", ""))
        if scenario in _ERRORS:
            status, code, message = _ERRORS[scenario]
            extra = {"Retry-After": "30"} if scenario == "fail-429" else {}
            self._error(status, code, message, extra)
        elif scenario == "fail-502":
            page = b"<html><body>502 Bad Gateway</body></html>\n"
            self._head(502, "text/html", {"Content-Length": str(len(page))})
            self.wfile.write(page)
        elif scenario == "fail-leak":
            self._error(401, "1002", f"Invalid token: {headers.get('authorization')}")
        else:
            self._stream(scenario, body)

    def _error(
        self, status: int, code: str, message: str, extra: dict[str, str] | None = None
    ) -> None:
        payload = json.dumps({"error": {"code": code, "message": message}}).encode()
        self._head(
            status, "application/json", {"Content-Length": str(len(payload)), **(extra or {})}
        )
        self.wfile.write(payload)

    def _head(self, status: int, content_type: str, extra: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Connection", "close")
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()

    # -- streaming ----------------------------------------------------------------------------

    def _stream(self, scenario: str, body: dict[str, Any]) -> None:
        chunked = scenario != "close-delimited"
        self._head(
            200,
            "text/event-stream; charset=utf-8",
            {"Transfer-Encoding": "chunked", "Cache-Control": "no-cache"} if chunked else {},
        )
        model = str(body.get("model"))
        thinking = body.get("thinking", {}).get("type") != "disabled"
        prompt = _last_user_text(body.get("messages"))
        send = self._send_chunked if chunked else self._send_raw
        try:
            if scenario == "noise":
                self._noisy(model, prompt)
            elif scenario == "slow":
                send(_event(_delta(model, reasoning_content="Thinking slowly")))
                self._stall()
                send(_event(_delta(model, content="late")))
                send(_event(_final(model, "stop")) + b"data: [DONE]\n\n")
            elif scenario == "cut":
                send(_event(_delta(model, reasoning_content="Let me think.\n")))
                send(_event(_delta(model, content="Half an ans")))
                return  # no terminating chunk: the connection just closes
            elif scenario in {"stream-error", "sensitive"}:
                send(_event(_delta(model, content="Partial answer")))
                if scenario == "sensitive":
                    send(_event(_final(model, "sensitive")) + b"data: [DONE]\n\n")
                else:
                    error = {"error": {"code": "1301", "message": "Sensitive content detected"}}
                    send(_event(error))
            else:
                for event in _success(model, prompt, thinking=thinking):
                    send(event)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.server.fake.client_gone.set()

    def _send_chunked(self, data: bytes) -> None:
        # Two chunks per event, split mid-way: clients must reassemble lines (and characters).
        middle = max(1, len(data) // 2)
        for part in (data[:middle], data[middle:]):
            if part:
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                self.wfile.flush()

    def _send_raw(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def _noisy(self, model: str, prompt: str) -> None:
        events = _success(model, prompt, thinking=True)
        first = json.dumps(json.loads(events[0].removeprefix(b"data: ")))
        head, tail = first.split(", ", 1)  # between two members: still JSON once rejoined
        self._send_chunked(
            b": keep-alive\r\n\r\n"
            b"data: not json at all\r\n\r\n"
            + f"event: message\r\nid: 1\r\ndata: {head},\r\ndata: {tail}\r\n\r\n".encode()
        )
        for event in events[1:]:
            self._send_chunked(b": ping\n" + event.replace(b"\n", b"\r\n"))

    def _stall(self) -> None:
        """Wait `stall_seconds`, noticing (and recording) a client that hangs up meanwhile."""
        fake = self.server.fake
        until = time.monotonic() + fake.stall_seconds
        while time.monotonic() < until and not fake.stopping.is_set():
            readable, _, _ = select.select([self.connection], [], [], 0.05)
            if readable:
                try:
                    gone = self.connection.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    gone = True
                if gone:
                    fake.client_gone.set()
                    raise ConnectionResetError("client went away")


def _last_user_text(messages: object) -> str:
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return str(message.get("content"))
    return ""


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


def _delta(model: str, **delta: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": {"role": "assistant", **delta}}],
    }


def _final(model: str, finish_reason: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": 34,
            "total_tokens": 46,
            "prompt_tokens_details": {"cached_tokens": 5},
        },
    }


def _success(model: str, prompt: str, *, thinking: bool) -> list[bytes]:
    events = []
    if thinking:
        for part in ("The user wrote ", "something.\nI should ", "answer politely."):
            events.append(_event(_delta(model, reasoning_content=part)))
    for part in ("Hello", "! You said: ", prompt, "\n", "你好世界。"):
        events.append(_event(_delta(model, content=part)))
    events.append(_event(_final(model, "stop")))
    events.append(b"data: [DONE]\n\n")
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake Z.AI chat-completions endpoint")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--key", default=DEFAULT_KEY)
    args = parser.parse_args()
    server = FakeZaiServer(key=args.key, host=args.host, port=args.port).start()
    print(f"fake Z.AI at http://{args.host}:{server.port}{BASE_PATH}/ (key {args.key})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
