"""The `http` tool: one HTTP(S) request, with the standard library only (the agent stays light)."""

from __future__ import annotations

import asyncio
import email.utils
import functools
import http.client
import json
import re
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from typing import IO, Any, Final

from ... import __version__
from ...errors import TaskFailed
from ...model import FailureClass
from .._api import PLUGIN_API_VERSION, Action, Detection, TaskContext

MAX_BODY_BYTES: Final = 1024 * 1024
DEFAULT_TIMEOUT: Final = 30
MAX_TIMEOUT: Final = 300
MAX_REDIRECTS: Final = 10
_READ_CHUNK: Final = 64 * 1024
_METHOD = re.compile(r"[A-Za-z]{1,20}")
# Sent to the first host only: a redirect to another origin must not carry credentials along.
_CREDENTIAL_HEADERS: Final = ("Authorization", "Cookie", "Proxy-authorization")

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

        what = f"{request.method} {request.url}"
        ctx.emit("log", what)
        sockets = _Sockets()
        fetch = asyncio.ensure_future(asyncio.to_thread(_fetch, request, timeout, sockets))
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
            raise _status_failure(what, response)
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


@dataclass(frozen=True, slots=True, kw_only=True)
class _Response:
    status: int
    reason: str
    url: str
    headers: Mapping[str, str]
    content_type: str
    charset: str
    body: bytes
    truncated: bool

    def text(self) -> str:
        try:
            return self.body.decode(self.charset, errors="replace")
        except LookupError:  # a charset Python does not know
            return self.body.decode("utf-8", errors="replace")

    def outputs(self) -> dict[str, Any]:
        text = self.text()
        outputs: dict[str, Any] = {
            "status": self.status,
            "reason": self.reason,
            "url": self.url,
            "headers": dict(self.headers),
            "body": text,
            "truncated": self.truncated,
        }
        if not self.truncated and _is_json(self.content_type):
            try:
                outputs["json"] = json.loads(text)
            except ValueError:
                pass  # it said JSON but is not: the body is still there
        return outputs


def _fetch(request: _Request, timeout: float, sockets: _Sockets) -> _Response:
    """Send the request and read the response (in a worker thread).

    Raises TaskFailed; every foreign error is classified here.
    """
    what = f"{request.method} {request.url}"
    opener = urllib.request.OpenerDirector()
    # Only what an http(s) request needs: no file:, ftp: or data: handler a redirect could use.
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.UnknownHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        _Redirects(follow=request.follow_redirects),
        urllib.request.HTTPErrorProcessor(),
        _HTTPHandler(sockets),
        _HTTPSHandler(sockets),
    ):
        opener.add_handler(handler)
    # The scheme was checked (http/https only) and no other handler is installed.
    req = urllib.request.Request(  # noqa: S310
        request.url, data=request.body, headers=dict(request.headers), method=request.method
    )
    try:
        try:
            response: Any = opener.open(req, timeout=timeout)
        except urllib.error.HTTPError as exc:
            response = exc  # a status the server chose: still a response
        with response:
            return _read_response(response)
    except TaskFailed:
        raise
    except urllib.error.HTTPError as exc:  # raised while reading an error's body
        raise _tool_error(what, str(exc)) from exc
    except urllib.error.URLError as exc:
        raise _connection_failure(what, exc.reason, timeout) from exc
    except TimeoutError as exc:
        raise TaskFailed(
            f"http: {what}: timed out after {timeout:g}s", failure_class=FailureClass.TIMEOUT
        ) from exc
    except http.client.InvalidURL as exc:
        raise _invalid(f"input 'url' is not valid: {exc}") from exc
    except (http.client.HTTPException, OSError) as exc:
        raise _connection_failure(what, exc, timeout) from exc
    except ValueError as exc:  # urllib's checks of the URL and headers
        raise _invalid(f"http: {what}: {exc}") from exc


def _read_response(response: Any) -> _Response:
    headers: Message = response.headers
    chunks: list[bytes] = []
    size = 0
    truncated = False
    while chunk := response.read(_READ_CHUNK):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            truncated = True
            break
    body = b"".join(chunks)[:MAX_BODY_BYTES]
    merged: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    status = int(response.status if hasattr(response, "status") else response.code)
    return _Response(
        status=status,
        reason=str(getattr(response, "reason", "") or http.client.responses.get(status, "")),
        url=str(response.geturl()),
        headers=merged,
        content_type=headers.get_content_type(),
        charset=headers.get_content_charset() or "utf-8",
        body=body,
        truncated=truncated,
    )


class _Sockets:
    """The sockets of one request, so the event loop can shut them down under the thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._aborted = False

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.append(sock)
            if not self._aborted:
                return
        _shutdown(sock)

    def abort(self) -> None:
        with self._lock:
            self._aborted = True
            sockets, self._open = self._open, []
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


class _TrackedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, sockets: _Sockets, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sockets = sockets

    def connect(self) -> None:
        super().connect()
        self._sockets.add(self.sock)


class _TrackedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, sockets: _Sockets, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sockets = sockets

    def connect(self) -> None:
        super().connect()
        self._sockets.add(self.sock)


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, sockets: _Sockets) -> None:
        super().__init__()
        self._sockets = sockets

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        sockets = self._sockets

        def connection(host: str, /, **kwargs: Any) -> http.client.HTTPConnection:
            return _TrackedHTTPConnection(host, sockets=sockets, **kwargs)

        return self.do_open(connection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, sockets: _Sockets) -> None:
        super().__init__()
        self._sockets = sockets

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        sockets = self._sockets

        def connection(host: str, /, **kwargs: Any) -> http.client.HTTPConnection:
            return _TrackedHTTPSConnection(host, sockets=sockets, **kwargs)

        return self.do_open(connection, req, context=_tls_context())


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the system's CA certificates takes a while: once per agent, at its first https use.
    return ssl.create_default_context()


class _Redirects(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS

    def __init__(self, *, follow: bool) -> None:
        self._follow = follow

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if not self._follow:
            return None  # the 3xx becomes the response
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(new.full_url) != _origin(req.full_url):
            for name in _CREDENTIAL_HEADERS:
                new.remove_header(name)
        return new


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _connection_failure(what: str, reason: object, timeout: float) -> TaskFailed:
    if isinstance(reason, TimeoutError):
        return TaskFailed(
            f"http: {what}: timed out after {timeout:g}s", failure_class=FailureClass.TIMEOUT
        )
    if isinstance(reason, socket.gaierror):
        host = urllib.parse.urlsplit(what.split(" ", 1)[1]).hostname
        return _tool_error(what, f"cannot resolve host {host}")
    if isinstance(reason, ssl.SSLCertVerificationError):
        return _tool_error(what, f"TLS certificate not trusted: {reason.verify_message}")
    if isinstance(reason, ssl.SSLError):
        return _tool_error(what, f"TLS error: {reason.reason or reason}")
    if isinstance(reason, OSError) and reason.strerror:
        return _tool_error(what, reason.strerror.lower())
    if isinstance(reason, http.client.RemoteDisconnected):
        return _tool_error(what, "server closed the connection without a response")
    if isinstance(reason, http.client.IncompleteRead):
        return _tool_error(what, "server closed the connection mid-response")
    return _tool_error(what, str(reason) or type(reason).__name__)


def _status_failure(what: str, response: _Response) -> TaskFailed:
    message = f"http: {what}: {response.status} {response.reason}".rstrip()
    if response.status in {401, 403}:
        return TaskFailed(message, failure_class=FailureClass.AUTH)
    if response.status == 429:
        retry_at = _retry_at(response.headers.get("retry-after", ""))
        return TaskFailed(message, failure_class=FailureClass.QUOTA, retry_at=retry_at)
    return TaskFailed(message, failure_class=FailureClass.TOOL_ERROR)


def _retry_at(value: str) -> float | None:
    """Retry-After (seconds or an HTTP date) as a wall-clock time, or None."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return time.time() + int(value)
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


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
