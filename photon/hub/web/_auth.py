"""Who is looking at the dashboard: the login link, the session cookie, roles and CSRF.

Every request under /api/ is judged by its session and by its user as the hub knows it now: a
deleted user's session ends at once, and a changed role applies at the next request. Mutating
requests are POST only and need the session's CSRF token in `X-CSRF-Token` and an `Origin`
naming this server.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from ...errors import AuthError
from ...model import Role
from ..audit import AuditTrail
from ..security import DashboardLogins, Principal, Users, WebSession

log = logging.getLogger(__name__)
COOKIE = "photon_session"
CSRF_HEADER = "X-CSRF-Token"
MAX_CODE_LENGTH = 128

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Viewer:
    """The user behind a request, with the role they have now."""

    user: str
    role: Role
    session: WebSession
    session_id: str


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class Gate:
    """Logs browsers in and out and says who each request comes from."""

    def __init__(self, *, logins: DashboardLogins, users: Users, audit: AuditTrail) -> None:
        self._logins = logins
        self._users = users
        self._audit = audit

    def viewer(self, request: web.Request) -> Viewer | None:
        """The request's user, or None (no session, an expired one, or a deleted user)."""
        session_id = request.cookies.get(COOKIE, "")
        session = self._logins.session(session_id) if session_id else None
        if session is None:
            return None
        try:
            principal = self._users.admit(Principal(subject=session.user, role=Role.VIEWER))
        except AuthError:
            self._logins.end(session_id)
            return None
        return Viewer(principal.subject, principal.role, session, session_id)

    async def login(self, request: web.Request) -> web.StreamResponse:
        code = request.query.get("code", "")
        if not code or len(code) > MAX_CODE_LENGTH:
            return _login_page(400, "This link has no valid login code. Run: photonctl dashboard")
        try:
            session_id, session = self._logins.redeem(code)
        except AuthError as exc:
            self._audit.record(
                "-", "dashboard.login", outcome="denied", detail={"reason": str(exc)}, deferred=True
            )
            return _login_page(401, f"{str(exc).capitalize()}.")
        self._audit.record(session.user, "dashboard.login")
        response = web.HTTPSeeOther("/")
        response.set_cookie(
            COOKIE,
            session_id,
            httponly=True,
            samesite="Strict",
            secure=scheme(request) == "https",
            path="/",
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        viewer = self.viewer(request)
        if viewer is None:
            return json_error(401, "not logged in")
        if (refusal := csrf_refusal(request, viewer)) is not None:
            return json_error(403, refusal)
        self._logins.end(viewer.session_id)
        self._audit.record(viewer.user, "dashboard.logout")
        response = web.json_response({"ok": True})
        response.del_cookie(COOKIE, path="/")
        return response

    def guard(
        self, needed: Role, action: str, handler: Callable[..., Awaitable[web.StreamResponse]]
    ) -> Handler:
        """`handler(request, viewer)` behind a session, CSRF for POSTs, and `needed`. Actions
        (POSTs) are recorded in the audit trail as `dashboard.<action>`, denials too."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            viewer = self.viewer(request)
            if viewer is None:
                return json_error(
                    401, "not logged in (or the session ended); run photonctl dashboard"
                )
            mutating = request.method == "POST"
            target = request.match_info.get("id", "")
            if mutating and (refusal := csrf_refusal(request, viewer)) is not None:
                self._deny(viewer, action, target, refusal)
                return json_error(403, refusal)
            if not viewer.role.allows(needed):
                reason = f"role {viewer.role} may not {action.replace('_', ' ')} (needs {needed})"
                self._deny(viewer, action, target, reason)
                return json_error(403, reason)
            if not mutating:
                return await handler(request, viewer)
            try:
                response = await handler(request, viewer)
            except Exception as exc:
                self._audit.record(
                    viewer.user,
                    f"dashboard.{action}",
                    target=target,
                    outcome="failed",
                    detail={"reason": str(exc)},
                )
                raise
            outcome = "allowed" if response.status < 400 else f"refused {response.status}"
            await self._audit.record(
                viewer.user, f"dashboard.{action}", target=target, outcome=outcome
            )
            return response

        return guarded

    def _deny(self, viewer: Viewer, action: str, target: str, reason: str) -> None:
        log.warning("dashboard: denied %s to %s (%s): %s", action, viewer.user, viewer.role, reason)
        self._audit.record(
            viewer.user,
            f"dashboard.{action}",
            target=target,
            outcome="denied",
            detail={"reason": reason},
            deferred=True,
        )


def scheme(request: web.Request) -> str:
    """How the browser reached us: a TLS proxy in front says so in X-Forwarded-Proto."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",", 1)[0].strip().lower()
    return forwarded if forwarded in ("http", "https") else request.scheme


def csrf_refusal(request: web.Request, viewer: Viewer) -> str | None:
    """Why a mutating request is refused as a possible cross-site forgery, or None."""
    token = request.headers.get(CSRF_HEADER, "")
    if not token or not hmac.compare_digest(token.encode(), viewer.session.csrf.encode()):
        return f"missing or wrong {CSRF_HEADER} header"
    origin = request.headers.get("Origin", "")
    expected = f"{scheme(request)}://{request.host}"
    if origin != expected:
        return f"Origin {origin or '(none)'} is not this dashboard ({expected})"
    return None


def _login_page(status: int, message: str) -> web.Response:
    text = (
        "<!doctype html><meta charset=utf-8><title>PHOTON · login</title>"
        "<link rel=stylesheet href=/assets/app.css><body class=login>"
        f"<main class=card><h1>PHOTON Mission Control</h1><p class=error>{_escape(message)}</p>"
        "<p>Get a fresh link with <code>photonctl dashboard</code>.</p></main>"
    )
    return web.Response(status=status, text=text, content_type="text/html")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
