"""How the `http` tool sends its request: urllib in a worker thread, over sockets the event loop
can shut down, to addresses the agent allows, with every foreign error classified.

Each connection resolves the host itself, checks every address against the AddressPolicy and
connects to the address it checked, so no second lookup can answer differently (DNS
rebinding); the Host header and the TLS server name and certificate check keep the name. A
redirect opens a new connection, checked the same way. Through a proxy the proxy connects,
not the agent: the URL's host is then checked as the agent resolves it, and a name the agent
cannot resolve is left to the proxy's own rules.

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
import weakref
from email.message import Message
from typing import IO, Any, Final

from ....errors import TaskFailed
from ....model import FailureClass
from ._policy import AddressPolicy, AddressRefused, parse_address
from ._request import MAX_BODY_BYTES, MAX_REDIRECTS, Request, invalid, tool_error
from ._response import Response

_READ_CHUNK: Final = 64 * 1024
# Sent to the first host only: a redirect to another origin must not carry credentials along.
_CREDENTIAL_HEADERS: Final = ("Authorization", "Cookie", "Proxy-authorization")


def fetch_response(
    request: Request, timeout: float, sockets: Sockets, policy: AddressPolicy
) -> Response:
    """Send the request and read the response (in a worker thread).

    Raises TaskFailed; every foreign error is classified here, an address the policy refuses
    as `invalid_input`.
    """
    what = request.what
    opener = urllib.request.OpenerDirector()
    proxies = _Proxies()
    # Only what an http(s) request needs: no file:, ftp: or data: handler a redirect could use.
    for handler in (
        proxies,
        urllib.request.UnknownHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        _Redirects(follow=request.follow_redirects),
        urllib.request.HTTPErrorProcessor(),
        _HTTPHandler(sockets, policy, proxies),
        _HTTPSHandler(sockets, policy, proxies),
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
    except AddressRefused as exc:
        raise invalid(f"http: {what}: {exc.explain()}") from None
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


def connect_checked(
    address: tuple[str, int],
    timeout: float | object | None = None,
    source_address: tuple[str, int] | None = None,
    *,
    policy: AddressPolicy,
) -> socket.socket:
    """socket.create_connection, connecting only to addresses `policy` allows.

    Tries the allowed addresses in getaddrinfo's order and skips refused ones; raises
    AddressRefused (for the first refused address) when none is allowed, the last connection
    error when none answers.
    """
    host, port = address
    refused: AddressRefused | None = None
    failure: OSError | None = None
    for family, kind, proto, _, sockaddr in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        try:
            policy.check(host, parse_address(str(sockaddr[0])))
        except AddressRefused as exc:
            refused = refused or exc
            continue
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is None or isinstance(timeout, int | float):
                sock.settimeout(timeout)
            if source_address is not None:
                sock.bind(source_address)
            sock.connect(sockaddr)  # the address checked above, not the name again
        except OSError as exc:
            sock.close()
            failure = exc
            continue
        return sock
    if failure is not None:
        raise failure
    if refused is not None:
        raise refused
    raise OSError(f"{host} has no address")


def check_proxied(host: str, port: int, policy: AddressPolicy) -> None:
    """The check for a request the proxy will connect for: every address the agent resolves
    `host` to must be allowed (which one the proxy picks is not known); a name the agent cannot
    resolve is the proxy's to judge. Raises AddressRefused."""
    try:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return
    for *_, sockaddr in infos:
        policy.check(host, parse_address(str(sockaddr[0])))


class _Proxies(urllib.request.ProxyHandler):
    """The environment's proxies (HTTP(S)_PROXY, NO_PROXY), remembering which requests it
    sent through one: only their connections go to an address the policy does not judge."""

    def __init__(self) -> None:
        super().__init__()
        self._proxied: weakref.WeakSet[urllib.request.Request] = weakref.WeakSet()

    def proxy_open(
        self, req: urllib.request.Request, proxy: str, type: str
    ) -> http.client.HTTPResponse | None:
        host = req.host
        opened = super().proxy_open(req, proxy, type)
        if req.host != host:  # set_proxy() was called: the connection goes to the proxy
            self._proxied.add(req)
        return opened

    def proxied(self, req: urllib.request.Request) -> bool:
        return req in self._proxied


class _TrackedHTTPConnection(http.client.HTTPConnection):
    def __init__(
        self, *args: Any, sockets: Sockets, policy: AddressPolicy | None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._sockets = sockets
        if policy is not None:  # None: a connection to the configured proxy
            self._create_connection = functools.partial(connect_checked, policy=policy)

    def connect(self) -> None:
        super().connect()
        self._sockets.add(self.sock)


class _TrackedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(
        self, *args: Any, sockets: Sockets, policy: AddressPolicy | None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._sockets = sockets
        if policy is not None:  # None: a connection to the configured proxy
            # TLS still gets the URL's name (server_hostname=self.host) for SNI and the check.
            self._create_connection = functools.partial(connect_checked, policy=policy)

    def connect(self) -> None:
        super().connect()
        self._sockets.add(self.sock)


def _connection_policy(
    req: urllib.request.Request, policy: AddressPolicy, proxies: _Proxies
) -> AddressPolicy | None:
    """The policy for the connection `req` opens: None when it goes to the proxy, after the
    URL's own host was checked."""
    if not proxies.proxied(req):
        return policy
    target = urllib.parse.urlsplit(req.full_url)
    if target.hostname:
        check_proxied(target.hostname, target.port or 0, policy)
    return None


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, sockets: Sockets, policy: AddressPolicy, proxies: _Proxies) -> None:
        super().__init__()
        self._sockets = sockets
        self._policy = policy
        self._proxies = proxies

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        sockets = self._sockets
        policy = _connection_policy(req, self._policy, self._proxies)

        def connection(host: str, /, **kwargs: Any) -> http.client.HTTPConnection:
            return _TrackedHTTPConnection(host, sockets=sockets, policy=policy, **kwargs)

        return self.do_open(connection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, sockets: Sockets, policy: AddressPolicy, proxies: _Proxies) -> None:
        super().__init__()
        self._sockets = sockets
        self._policy = policy
        self._proxies = proxies

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        sockets = self._sockets
        policy = _connection_policy(req, self._policy, self._proxies)

        def connection(host: str, /, **kwargs: Any) -> http.client.HTTPConnection:
            return _TrackedHTTPSConnection(host, sockets=sockets, policy=policy, **kwargs)

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
