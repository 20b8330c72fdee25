"""The `http` built-in, against a real http.server on 127.0.0.1:0."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from photon.errors import TaskFailed
from photon.model import FailureClass
from photon.plugins.builtin.http import MAX_BODY_BYTES, HttpPlugin
from photon.plugins.testing import FakeTaskContext


@dataclass
class Server:
    url: str
    port: int
    release: threading.Event
    seen: list[dict[str, Any]]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers)}
        )
        path = self.path.split("?")[0]
        if path == "/echo":
            self._send(
                200,
                json.dumps(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body.decode(),
                    }
                ).encode(),
                [("Content-Type", "application/json"), ("X-Multi", "a"), ("X-Multi", "b")],
            )
        elif path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            extra = [("Retry-After", "120")] if code == 429 else []
            self._send(code, b"status body", [("Content-Type", "text/plain"), *extra])
        elif path == "/big":
            self._send(200, b"x" * (MAX_BODY_BYTES + 100), [("Content-Type", "application/json")])
        elif path == "/latin1":
            self._send(
                200, "café".encode("latin-1"), [("Content-Type", "text/plain; charset=latin-1")]
            )
        elif path == "/badjson":
            self._send(200, b"{not json", [("Content-Type", "application/problem+json")])
        elif path == "/redirect":
            self._send(302, b"", [("Location", "/echo")])
        elif path == "/redirect-away":
            port = self.server.server_address[1]
            self._send(302, b"", [("Location", f"http://localhost:{port}/echo")])
        elif path == "/slow":
            self.server.release.wait(30)
            self._send(200, b"late", [])
        elif path == "/hangup":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        else:
            self._send(404, b"no such page", [])

    def _send(self, code: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    release: threading.Event
    seen: list[dict[str, Any]]


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.release = threading.Event()
    httpd.seen = []
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    port = httpd.server_address[1]
    try:
        yield Server(f"http://127.0.0.1:{port}", port, httpd.release, httpd.seen)
    finally:
        httpd.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def ctx_for(inputs: Mapping[str, Any], **kwargs: Any) -> FakeTaskContext:
    return FakeTaskContext(action="request", inputs=inputs, **kwargs)


async def request(**inputs: Any) -> Mapping[str, Any]:
    return await HttpPlugin().run(ctx_for(inputs))


async def fails(**inputs: Any) -> TaskFailed:
    with pytest.raises(TaskFailed) as info:
        await request(**inputs)
    return info.value


async def test_get_returns_status_headers_body_and_json(server: Server) -> None:
    ctx = ctx_for({"url": f"{server.url}/echo?q=1"})
    out = await HttpPlugin().run(ctx)
    assert out["status"] == 200
    assert out["reason"] == "OK"
    assert out["url"] == f"{server.url}/echo?q=1"
    assert out["truncated"] is False
    assert out["headers"]["content-type"] == "application/json"
    assert out["headers"]["x-multi"] == "a, b"
    assert out["json"]["method"] == "GET"
    assert out["json"]["path"] == "/echo?q=1"
    assert json.loads(out["body"]) == out["json"]
    assert ctx.messages() == [f"GET {server.url}/echo?q=1", f"200 OK ({len(out['body'])} bytes)"]


async def test_post_with_body_and_headers(server: Server) -> None:
    out = await request(
        url=f"{server.url}/echo",
        method="post",
        headers={"X-Token": "abc", "Content-Type": "text/plain"},
        body="hello",
    )
    assert out["json"]["method"] == "POST"
    assert out["json"]["body"] == "hello"
    assert out["json"]["headers"]["x-token"] == "abc"
    assert out["json"]["headers"]["content-type"] == "text/plain"


async def test_json_input_is_sent_as_json(server: Server) -> None:
    out = await request(url=f"{server.url}/echo", method="PUT", json={"a": [1, None]})
    assert out["json"]["method"] == "PUT"
    assert json.loads(out["json"]["body"]) == {"a": [1, None]}
    assert out["json"]["headers"]["content-type"] == "application/json"


async def test_non_2xx_is_a_successful_task_by_default(server: Server) -> None:
    out = await request(url=f"{server.url}/status/404")
    assert out["status"] == 404
    assert out["reason"] == "Not Found"
    assert out["body"] == "status body"
    assert "json" not in out


@pytest.mark.parametrize(
    ("code", "failure_class"),
    [
        (401, FailureClass.AUTH),
        (403, FailureClass.AUTH),
        (429, FailureClass.QUOTA),
        (404, FailureClass.TOOL_ERROR),
        (500, FailureClass.TOOL_ERROR),
    ],
)
async def test_fail_on_status_classifies(
    server: Server, code: int, failure_class: FailureClass
) -> None:
    before = time.time()
    failure = await fails(url=f"{server.url}/status/{code}", fail_on_status=True)
    assert failure.failure_class is failure_class
    assert str(failure).startswith(f"http: GET {server.url}/status/{code}: {code} ")
    if code == 429:
        assert failure.retry_at is not None
        assert before + 119 <= failure.retry_at <= time.time() + 121
    else:
        assert failure.retry_at is None


async def test_fail_on_status_lets_2xx_through(server: Server) -> None:
    assert (await request(url=f"{server.url}/echo", fail_on_status=True))["status"] == 200


async def test_body_is_capped_at_1_mib(server: Server) -> None:
    out = await request(url=f"{server.url}/big")
    assert out["truncated"] is True
    assert len(out["body"]) == MAX_BODY_BYTES
    assert "json" not in out  # a cut body is not parsed


async def test_charset_is_honoured(server: Server) -> None:
    assert (await request(url=f"{server.url}/latin1"))["body"] == "café"


async def test_json_content_type_that_does_not_parse_keeps_the_body(server: Server) -> None:
    out = await request(url=f"{server.url}/badjson")
    assert out["body"] == "{not json"
    assert "json" not in out


async def test_redirects_are_followed(server: Server) -> None:
    out = await request(url=f"{server.url}/redirect", headers={"Authorization": "Bearer t"})
    assert out["status"] == 200
    assert out["url"] == f"{server.url}/echo"
    assert out["json"]["headers"]["authorization"] == "Bearer t"  # same origin


async def test_credentials_are_not_sent_to_another_origin(server: Server) -> None:
    out = await request(
        url=f"{server.url}/redirect-away", headers={"Authorization": "Bearer t", "X-Keep": "1"}
    )
    assert out["url"] == f"http://localhost:{server.port}/echo"
    assert "authorization" not in out["json"]["headers"]
    assert out["json"]["headers"]["x-keep"] == "1"


async def test_redirects_can_be_left_alone(server: Server) -> None:
    out = await request(url=f"{server.url}/redirect", follow_redirects=False)
    assert out["status"] == 302
    assert out["headers"]["location"] == "/echo"


async def test_connection_refused_is_a_tool_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    failure = await fails(url=f"http://127.0.0.1:{port}/")
    assert failure.failure_class is FailureClass.TOOL_ERROR
    assert str(failure) == f"http: GET http://127.0.0.1:{port}/: connection refused"


async def test_a_hangup_is_a_tool_error(server: Server) -> None:
    failure = await fails(url=f"{server.url}/hangup")
    assert failure.failure_class is FailureClass.TOOL_ERROR
    assert "\n" not in str(failure)
    assert str(failure).startswith(f"http: GET {server.url}/hangup: ")


async def test_unresolvable_host_is_a_tool_error() -> None:
    failure = await fails(url="http://no-such-host.invalid/")
    assert failure.failure_class is FailureClass.TOOL_ERROR
    assert (
        str(failure)
        == "http: GET http://no-such-host.invalid/: cannot resolve host no-such-host.invalid"
    )


async def test_timeout_input(server: Server) -> None:
    start = time.monotonic()
    failure = await fails(url=f"{server.url}/slow", timeout=0.3)
    assert failure.failure_class is FailureClass.TIMEOUT
    assert str(failure) == f"http: GET {server.url}/slow: timed out after 0.3s"
    assert time.monotonic() - start < 5


async def test_task_deadline(server: Server) -> None:
    ctx = ctx_for({"url": f"{server.url}/slow"}, deadline=time.monotonic() + 0.3)
    with pytest.raises(TaskFailed) as info:
        await HttpPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.TIMEOUT


async def test_deadline_already_passed() -> None:
    ctx = ctx_for({"url": "http://127.0.0.1:9/"}, deadline=time.monotonic() - 1)
    with pytest.raises(TaskFailed) as info:
        await HttpPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.TIMEOUT


async def test_cancel_stops_the_request(server: Server) -> None:
    ctx = ctx_for({"url": f"{server.url}/slow"})
    asyncio.get_running_loop().call_later(0.2, ctx.cancel)
    start = time.monotonic()
    with pytest.raises(TaskFailed) as info:
        await HttpPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.CANCELLED
    assert str(info.value) == f"http: GET {server.url}/slow: cancelled"
    assert time.monotonic() - start < 5


async def test_already_cancelled_sends_nothing(server: Server) -> None:
    ctx = ctx_for({"url": f"{server.url}/echo"})
    ctx.cancel()
    with pytest.raises(TaskFailed) as info:
        await HttpPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.CANCELLED
    assert server.seen == []


async def test_coroutine_cancellation_propagates(server: Server) -> None:
    task = asyncio.ensure_future(request(url=f"{server.url}/slow"))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_secrets_are_masked_in_events(server: Server) -> None:
    ctx = ctx_for({"url": f"{server.url}/echo?key=s3cret"}, secrets={"KEY": "s3cret"})
    await HttpPlugin().run(ctx)
    assert ctx.messages()[0] == f"GET {server.url}/echo?key=***"


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, "input 'url' must be a non-empty string"),
        (
            {"url": "ftp://x/"},
            "input 'url' must be an http:// or https:// URL with a host: ftp://x/",
        ),
        ({"url": "file:///etc/passwd"}, "input 'url' must be an http:// or https:// URL"),
        ({"url": "http://"}, "input 'url' must be an http:// or https:// URL with a host"),
        ({"url": "http://x/", "method": "GE T"}, "input 'method' must be an HTTP method"),
        ({"url": "http://x/", "headers": {"a": 1}}, "input 'headers' must be an object of strings"),
        ({"url": "http://x/", "headers": ["a"]}, "input 'headers' must be an object of strings"),
        ({"url": "http://x/", "headers": {"a": "b\r\nc: d"}}, "input 'headers' must not"),
        ({"url": "http://x/", "body": "a", "json": {}}, "inputs 'body' and 'json' cannot both"),
        ({"url": "http://x/", "body": {"a": 1}}, "input 'body' must be a string"),
        ({"url": "http://x/", "json": float("nan")}, "input 'json' cannot be sent as JSON"),
        ({"url": "http://x/", "timeout": 0}, "input 'timeout' must be a number of seconds"),
        ({"url": "http://x/", "timeout": 301}, "input 'timeout' must be a number of seconds"),
        ({"url": "http://x/", "timeout": "5"}, "input 'timeout' must be a number of seconds"),
        ({"url": "http://x/", "fail_on_status": "yes"}, "input 'fail_on_status' must be true"),
        ({"url": "http://x/", "follow_redirects": 0}, "input 'follow_redirects' must be true"),
    ],
)
async def test_bad_inputs_are_invalid_input(inputs: dict[str, Any], message: str) -> None:
    failure = await fails(**inputs)
    assert failure.failure_class is FailureClass.INVALID_INPUT
    assert str(failure).startswith(message)


async def test_unknown_action() -> None:
    ctx = FakeTaskContext(action="get", inputs={"url": "http://x/"})
    with pytest.raises(TaskFailed, match=r"^http: unknown action 'get' \(request\)$"):
        await HttpPlugin().run(ctx)
