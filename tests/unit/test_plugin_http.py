"""The `http` built-in, against a real http.server on 127.0.0.1:0.

The tool refuses loopback addresses unless the agent allows them, so the tests that need the
server allow 127.0.0.1 (LOCAL); the address checks themselves run with the default settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from photon.certs import (
    certificate_to_pem,
    create_ca,
    generate_private_key,
    issue_hub_certificate,
    private_key_to_pem,
)
from photon.errors import TaskFailed
from photon.model import FailureClass
from photon.plugins.builtin.http import MAX_BODY_BYTES, HttpPlugin, _fetch
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
        elif path == "/goto":  # a redirect to the URL in the query
            self._send(302, b"", [("Location", urllib.parse.unquote(self.path.split("?", 1)[1]))])
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


@contextlib.contextmanager
def serving(host: str = "127.0.0.1", port: int = 0) -> Iterator[Server]:
    httpd = _Server((host, port), _Handler)
    httpd.release = threading.Event()
    httpd.seen = []
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    port = httpd.server_address[1]
    try:
        yield Server(f"http://{host}:{port}", port, httpd.release, httpd.seen)
    finally:
        httpd.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def server() -> Iterator[Server]:
    with serving() as running:
        yield running


# What the tests that need the local server set in the agent's [tools.http].
LOCAL: Mapping[str, Any] = {"allow_networks": ["127.0.0.1/32"]}


def ctx_for(
    inputs: Mapping[str, Any], *, settings: Mapping[str, Any] = LOCAL, **kwargs: Any
) -> FakeTaskContext:
    return FakeTaskContext(action="request", inputs=inputs, settings=settings, **kwargs)


async def request(*, settings: Mapping[str, Any] = LOCAL, **inputs: Any) -> Mapping[str, Any]:
    return await HttpPlugin().run(ctx_for(inputs, settings=settings))


async def fails(*, settings: Mapping[str, Any] = LOCAL, **inputs: Any) -> TaskFailed:
    with pytest.raises(TaskFailed) as info:
        await request(settings=settings, **inputs)
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


# --- which addresses: public ones only, unless the agent allows more -------------------------


def refused_for(failure: TaskFailed, address: str, kind: str) -> None:
    """The failure is the refusal of `address`, naming what it is and the settings."""
    assert failure.failure_class is FailureClass.INVALID_INPUT, failure
    message = str(failure)
    assert f"{address} is {kind}" in message or f"({address}) is {kind}" in message, message
    assert "this agent connects only to public addresses" in message
    assert f'allow_networks = ["{address}/' in message
    assert "allow_private = true) under [tools.http] in agent.toml" in message


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "2130706433",  # decimal
        "017700000001",  # octal
        "0177.0.0.1",
        "0x7f.0.0.1",  # hex
        "0x7f000001",
        "127.1",  # short form
        "127.0.0.2",
        "localhost",  # a name that resolves to loopback
        "[::ffff:127.0.0.1]",  # IPv4-mapped IPv6
        "[::ffff:7f00:1]",
    ],
)
async def test_loopback_is_refused_however_it_is_spelt(server: Server, host: str) -> None:
    failure = await fails(settings={}, url=f"http://{host}:{server.port}/echo")
    address = "127.0.0.2" if host == "127.0.0.2" else "127.0.0.1"
    refused_for(failure, address, "a loopback address")
    assert str(failure).startswith(f"http: GET http://{host}:{server.port}/echo: ")
    assert server.seen == []


@pytest.mark.parametrize(
    ("host", "address", "kind"),
    [
        ("0.0.0.0", "0.0.0.0", "the unspecified address"),  # Linux connects it to loopback
        ("0", "0.0.0.0", "the unspecified address"),
        ("[::]", "::", "the unspecified address"),
        ("[::1]", "::1", "a loopback address"),
        ("169.254.169.254", "169.254.169.254", "a link-local address"),  # cloud metadata
        ("[::ffff:169.254.169.254]", "169.254.169.254", "a link-local address"),
        ("[fe80::1]", "fe80::1", "a link-local address"),
        ("10.0.0.1", "10.0.0.1", "a private address"),
        ("172.16.0.1", "172.16.0.1", "a private address"),
        ("172.31.255.254", "172.31.255.254", "a private address"),
        ("192.168.1.1", "192.168.1.1", "a private address"),
        ("[fc00::1]", "fc00::1", "a private address"),
        ("[fd00:ec2::254]", "fd00:ec2::254", "a private address"),  # AWS metadata over IPv6
        ("100.64.0.1", "100.64.0.1", "a shared (carrier-grade NAT) address"),
        ("224.0.0.1", "224.0.0.1", "a multicast address"),
        ("[ff02::1]", "ff02::1", "a multicast address"),
        ("240.0.0.1", "240.0.0.1", "a reserved or special-purpose address"),
        ("255.255.255.255", "255.255.255.255", "a reserved or special-purpose address"),
        ("192.0.0.170", "192.0.0.170", "a reserved or special-purpose address"),
        ("[64:ff9b::a9fe:a9fe]", "169.254.169.254", "a link-local address"),  # NAT64
    ],
)
async def test_non_public_addresses_are_refused_before_connecting(
    host: str, address: str, kind: str
) -> None:
    # Unchecked, these would time out (or be refused by whatever listens): a timeout or a
    # tool_error fails the test as surely as a success does.
    failure = await fails(settings={}, url=f"http://{host}:9/", timeout=2)
    refused_for(failure, address, kind)


async def test_an_address_carried_in_6to4_is_checked() -> None:
    failure = await fails(settings={}, url="http://[2002:a9fe:a9fe::1]:9/", timeout=2)
    assert failure.failure_class is FailureClass.INVALID_INPUT
    assert "2002:a9fe:a9fe::1 is an address carrying 169.254.169.254, a link-local" in str(failure)
    assert 'allow_networks = ["169.254.169.254/32"]' in str(failure)


@pytest.mark.parametrize(
    "settings",
    [
        {"allow_networks": ["127.0.0.1/32"]},
        {"allow_networks": ["10.0.0.0/8", "127.0.0.0/8"]},
        {"allow_networks": ["127.0.0.1"]},  # one address
        {"allow_private": True},
    ],
)
async def test_the_agent_can_allow_more(server: Server, settings: dict[str, Any]) -> None:
    for host in ("127.0.0.1", "2130706433", "localhost"):
        out = await request(settings=settings, url=f"http://{host}:{server.port}/echo")
        assert out["status"] == 200
        assert out["json"]["headers"]["host"] == f"{host}:{server.port}"


async def test_allow_networks_allows_only_what_it_lists(server: Server) -> None:
    settings = {"allow_networks": ["127.0.0.2/32", "10.0.0.0/8"]}
    refused_for(
        await fails(settings=settings, url=f"{server.url}/echo"), "127.0.0.1", "a loopback address"
    )
    assert server.seen == []


async def test_every_redirect_is_checked(server: Server) -> None:
    # The first host is allowed; where it redirects to is not.
    with serving("127.0.0.2") as elsewhere:
        for target in (f"{elsewhere.url}/echo", "http://169.254.169.254/latest/meta-data/"):
            url = f"{server.url}/goto?{urllib.parse.quote(target)}"
            failure = await fails(url=url, timeout=2)
            address = urllib.parse.urlsplit(target).hostname
            assert address is not None
            kind = "a loopback address" if address == "127.0.0.2" else "a link-local address"
            refused_for(failure, address, kind)
            assert str(failure).startswith(f"http: GET {url}: ")
        assert elsewhere.seen == []
        # Allowed too, the redirect is followed.
        both = {"allow_networks": ["127.0.0.1/32", "127.0.0.2/32"]}
        url = f"{server.url}/goto?{urllib.parse.quote(f'{elsewhere.url}/echo')}"
        assert (await request(settings=both, url=url))["url"] == f"{elsewhere.url}/echo"
        assert [seen["path"] for seen in elsewhere.seen] == ["/echo"]


def fake_dns(monkeypatch: pytest.MonkeyPatch, name: str, *answers: str) -> list[tuple[str, int]]:
    """Make `name` resolve to the next of `answers` at each lookup (the last one repeats);
    returns the lookups made."""
    real = socket.getaddrinfo
    lookups: list[tuple[str, int]] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != name:
            return real(host, port, *args, **kwargs)
        lookups.append((host, port))
        address = answers[min(len(lookups), len(answers)) - 1]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


async def test_a_name_resolving_to_loopback_is_refused(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dns(monkeypatch, "internal.example.com", "127.0.0.1")
    failure = await fails(settings={}, url=f"http://internal.example.com:{server.port}/echo")
    refused_for(failure, "127.0.0.1", "a loopback address")
    assert "internal.example.com (127.0.0.1) is a loopback address" in str(failure)
    assert server.seen == []


async def test_the_address_checked_is_the_address_connected_to(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DNS rebinding: the first answer is allowed, any later one is not. A check that resolved
    # the name again to connect would reach 127.0.0.2, where a server listens on the same port.
    with serving("127.0.0.2", server.port) as rebound:
        lookups = fake_dns(monkeypatch, "rebind.example.com", "127.0.0.1", "127.0.0.2")
        port = server.port
        out = await request(url=f"http://rebind.example.com:{port}/echo")
        assert out["status"] == 200
        assert out["json"]["headers"]["host"] == f"rebind.example.com:{port}"  # the name kept
        assert lookups == [("rebind.example.com", port)]
        assert rebound.seen == []


async def test_tls_keeps_the_name_for_sni_and_the_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca_key, ca_cert = create_ca()
    key = generate_private_key()
    cert = issue_hub_certificate(
        ca_key=ca_key, ca_cert=ca_cert, public_key=key.public_key(), sans=["api.example.com"]
    )
    (tmp_path / "cert.pem").write_bytes(certificate_to_pem(cert))
    (tmp_path / "key.pem").write_bytes(private_key_to_pem(key))
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    names: list[str | None] = []
    server_side.sni_callback = lambda _sock, name, _ctx: names.append(name)  # type: ignore[assignment,misc,return-value]
    client_side = ssl.create_default_context(cadata=certificate_to_pem(ca_cert).decode())
    monkeypatch.setattr(_fetch, "_tls_context", lambda: client_side)

    with serving() as plain:
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.release, httpd.seen = plain.release, []
        httpd.socket = server_side.wrap_socket(httpd.socket, server_side=True)
        thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
        thread.start()
        try:
            port = httpd.server_address[1]
            fake_dns(monkeypatch, "api.example.com", "127.0.0.1")
            out = await request(url=f"https://api.example.com:{port}/echo")
            assert out["status"] == 200
            assert out["json"]["headers"]["host"] == f"api.example.com:{port}"
            assert names == ["api.example.com"]
            # The certificate is checked against the name, not the address connected to.
            failure = await fails(url=f"https://127.0.0.1:{port}/echo")
            assert failure.failure_class is FailureClass.TOOL_ERROR
            assert "TLS certificate not trusted" in str(failure)
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join(5)


class _Proxy(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append({"path": self.path})
        body = b"via proxy"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


async def test_through_a_proxy_the_urls_host_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = _Server(("127.0.0.1", 0), _Proxy)
    proxy.seen = []
    thread = threading.Thread(target=proxy.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        for name in ("no_proxy", "NO_PROXY", "REQUEST_METHOD"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.server_address[1]}")
        # The proxy is the agent's own configuration: its address is not judged.
        out = await request(settings={}, url="http://service.invalid/status")
        assert (out["status"], out["body"]) == (200, "via proxy")
        assert proxy.seen == [{"path": "http://service.invalid/status"}]
        # What the URL names is, where the agent can tell.
        for host, address in [("127.0.0.1", "127.0.0.1"), ("localhost", "127.0.0.1")]:
            failure = await fails(settings={}, url=f"http://{host}:8080/")
            refused_for(failure, address, "a loopback address")
        fake_dns(monkeypatch, "internal.example.com", "10.1.2.3")
        failure = await fails(settings={}, url="http://internal.example.com/")
        refused_for(failure, "10.1.2.3", "a private address")
        assert len(proxy.seen) == 1
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join(5)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"allow_private": "yes"}, "[tools.http] allow_private must be true or false"),
        ({"allow_networks": "10.0.0.0/8"}, "[tools.http] allow_networks must be a list"),
        ({"allow_networks": [10]}, "[tools.http] allow_networks must be a list"),
        (
            {"allow_networks": ["10.1.2.3/16"]},
            "[tools.http] allow_networks[0] ('10.1.2.3/16') is not an IP network: 10.1.2.3/16"
            " has host bits set",
        ),
        (
            {"allow_networks": ["127.0.0.1/32", "intranet"]},
            "[tools.http] allow_networks[1] ('intranet') is not an IP network",
        ),
    ],
)
async def test_bad_settings_are_reported(settings: dict[str, Any], message: str) -> None:
    detection = await HttpPlugin().detect(settings=settings)
    assert not detection.available
    assert detection.detail.startswith(message)
    failure = await fails(settings=settings, url="http://example.com/")
    assert failure.failure_class is FailureClass.TOOL_MISSING
    assert str(failure).startswith(f"http: {message}")


async def test_detect_without_settings_is_available() -> None:
    assert (await HttpPlugin().detect()).available
    assert (await HttpPlugin().detect(settings=LOCAL)).available
