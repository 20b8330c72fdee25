"""How the `http` tool sends its request: urllib in a worker thread, over sockets the event loop
can shut down, with every foreign error classified.

The plugin imports this at its first request, not at start: the agent loads every plugin when
it starts, and urllib, http.client and email would add about 1.5 MB to an idle agent.
"""

from __future__ import annotations

import functools
import http.client
import socket
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from email.message import Message
from typing import IO, Any, Final

from ....errors import TaskFailed
from ....model import FailureClass
from ._request import MAX_BODY_BYTES, MAX_REDIRECTS, Request, invalid, tool_error
from ._response import Response

_READ_CHUNK: Final = 64 * 1024
# Sent to the first host only: a redirect to another origin must not carry credentials along.
_CREDENTIAL_HEADERS: Final = ("Authorization", "Cookie", "Proxy-authorization")


def fetch_response(request: Request, timeout: float, sockets: Sockets) -> Response:
    """Send the request and read the response (in a worker thread).

    Raises TaskFailed; every foreign error is classified here.
    """
    what = request.what
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
        raise tool_error(what, str(exc)) from exc
    except urllib.error.URLError as exc:
        raise _connection_failure(what, exc.reason, timeout) from exc
    except TimeoutError as exc:
        raise TaskFailed(
            f"http: {what}: timed out after {timeout:g}s", failure_class=FailureClass.TIMEOUT
        ) from exc
    except http.client.InvalidURL as exc:
        raise invalid(f"input 'url' is not valid: {exc}") from exc
    except (http.client.HTTPException, OSError) as exc:
        raise _connection_failure(what, exc, timeout) from exc
    except ValueError as exc:  # urllib's checks of the URL and headers
        raise invalid(f"http: {what}: {exc}") from exc


def _read_response(response: Any) -> Response:
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
    return Response(
        status=status,
        reason=str(getattr(response, "reason", "") or http.client.responses.get(status, "")),
        url=str(response.geturl()),
        headers=merged,
        content_type=headers.get_content_type(),
        charset=headers.get_content_charset() or "utf-8",
        body=body,
        truncated=truncated,
    )


class Sockets:
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
    def __init__(self, *args: Any, sockets: Sockets, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sockets = sockets

    def connect(self) -> None:
        super().connect()
        self._sockets.add(self.sock)


class _TrackedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, sockets: Sockets, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sockets = sockets

    def connect(self) -> None:
        super().connect()
        self._sockets.add(self.sock)


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, sockets: Sockets) -> None:
        super().__init__()
        self._sockets = sockets

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        sockets = self._sockets

        def connection(host: str, /, **kwargs: Any) -> http.client.HTTPConnection:
            return _TrackedHTTPConnection(host, sockets=sockets, **kwargs)

        return self.do_open(connection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, sockets: Sockets) -> None:
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
        return tool_error(what, f"cannot resolve host {host}")
    if isinstance(reason, ssl.SSLCertVerificationError):
        return tool_error(what, f"TLS certificate not trusted: {reason.verify_message}")
    if isinstance(reason, ssl.SSLError):
        return tool_error(what, f"TLS error: {reason.reason or reason}")
    if isinstance(reason, OSError) and reason.strerror:
        return tool_error(what, reason.strerror.lower())
    if isinstance(reason, http.client.RemoteDisconnected):
        return tool_error(what, "server closed the connection without a response")
    if isinstance(reason, http.client.IncompleteRead):
        return tool_error(what, "server closed the connection mid-response")
    return tool_error(what, str(reason) or type(reason).__name__)
