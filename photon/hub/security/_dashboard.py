"""The dashboard's one-time login codes and the browser sessions they open (in memory only:
a hub restart logs everyone out, and `photonctl dashboard` gives a new link).

A code is minted for the user calling `CreateDashboardLogin` and opens one session, once,
within `code_ttl` seconds. A session lives `idle` seconds past its last use and never more than
`absolute` seconds. Only hashes of codes and session ids are kept. The clock is injected.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..._ids import new_secret
from ...errors import AuthError

CODE_TTL = 60.0
SESSION_IDLE = 30 * 60.0
SESSION_ABSOLUTE = 12 * 3600.0
MAX_CODES = 1000  # codes not yet used; the oldest goes first beyond it
MAX_SESSIONS = 1000


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(slots=True, kw_only=True)
class WebSession:
    """A browser's session: its user, its CSRF token, and its times (by the injected clock)."""

    user: str
    csrf: str
    created: float
    used: float


@dataclass(frozen=True, slots=True)
class _Code:
    user: str
    expires: float


class DashboardLogins:
    """One-time login codes and the sessions they open."""

    def __init__(
        self,
        *,
        code_ttl: float = CODE_TTL,
        idle: float = SESSION_IDLE,
        absolute: float = SESSION_ABSOLUTE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.code_ttl = code_ttl
        self._idle = idle
        self._absolute = absolute
        self._clock = clock
        self._codes: dict[str, _Code] = {}
        self._sessions: dict[str, WebSession] = {}

    def mint(self, user: str) -> str:
        """A new code that logs `user` in once, within `code_ttl` seconds."""
        self._expire_codes()
        while len(self._codes) >= MAX_CODES:
            del self._codes[next(iter(self._codes))]
        code = new_secret()
        self._codes[_digest(code)] = _Code(user=user, expires=self._clock() + self.code_ttl)
        return code

    def redeem(self, code: str) -> tuple[str, WebSession]:
        """Use the code up: a new session id (shown once) and its session. Raises AuthError
        when the code is unknown, used or expired."""
        digest = _digest(code)
        entry = self._codes.pop(digest, None)
        # Looked up by the SHA-256 of what was sent, never by the code itself: how long a
        # miss takes says nothing about the codes there are.
        if entry is None:
            raise AuthError(
                "this login link is unknown or was used already; run photonctl dashboard"
            )
        now = self._clock()
        if now > entry.expires:
            raise AuthError("this login link has expired; run photonctl dashboard again")
        self._expire_sessions(now)
        while len(self._sessions) >= MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]
        session_id = new_secret()
        session = WebSession(user=entry.user, csrf=new_secret(), created=now, used=now)
        self._sessions[_digest(session_id)] = session
        return session_id, session

    def session(self, session_id: str) -> WebSession | None:
        """The live session the id opens (its idle time restarts), else None."""
        digest = _digest(session_id)
        session = self._sessions.get(digest)
        if session is None:
            return None
        now = self._clock()
        if now - session.used > self._idle or now - session.created > self._absolute:
            del self._sessions[digest]
            return None
        session.used = now
        return session

    def end(self, session_id: str) -> None:
        self._sessions.pop(_digest(session_id), None)

    def _expire_codes(self) -> None:
        now = self._clock()
        for digest in [d for d, c in self._codes.items() if now > c.expires]:
            del self._codes[digest]

    def _expire_sessions(self, now: float) -> None:
        for digest in [
            d
            for d, s in self._sessions.items()
            if now - s.used > self._idle or now - s.created > self._absolute
        ]:
            del self._sessions[digest]
