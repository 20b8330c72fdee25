"""One-time dashboard login codes and the sessions they open, on a fake clock."""

from __future__ import annotations

import pytest

from photon.errors import AuthError
from photon.hub.security import DashboardLogins


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _logins(clock: Clock) -> DashboardLogins:
    return DashboardLogins(code_ttl=60, idle=300, absolute=3600, clock=clock)


def test_a_code_opens_one_session_once() -> None:
    logins = _logins(Clock())
    code = logins.mint("ana")
    session_id, session = logins.redeem(code)
    assert session.user == "ana" and len(session_id) >= 43 and session.csrf != session_id
    assert logins.session(session_id) is session
    with pytest.raises(AuthError, match="used already"):
        logins.redeem(code)
    with pytest.raises(AuthError, match="unknown"):
        logins.redeem("made-up")


def test_an_expired_code_is_refused() -> None:
    clock = Clock()
    logins = _logins(clock)
    code = logins.mint("ana")
    clock.now += 61
    with pytest.raises(AuthError, match="expired"):
        logins.redeem(code)
    with pytest.raises(AuthError):  # and it is gone
        logins.redeem(code)


def test_sessions_end_when_idle_at_their_absolute_limit_and_at_logout() -> None:
    clock = Clock()
    logins = _logins(clock)
    idle_id, _ = logins.redeem(logins.mint("ana"))
    clock.now += 301
    assert logins.session(idle_id) is None

    busy_id, _ = logins.redeem(logins.mint("ana"))
    for _ in range(12):  # used every 299 s: never idle, but 3600 s at most
        clock.now += 299
        assert logins.session(busy_id) is not None
    clock.now += 299
    assert logins.session(busy_id) is None

    gone_id, _ = logins.redeem(logins.mint("bo"))
    logins.end(gone_id)
    assert logins.session(gone_id) is None
