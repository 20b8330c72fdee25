"""The credential throttle's rules, over the times it is given."""

from __future__ import annotations

from photon.hub.security import Throttle, peer_host
from photon.hub.security._throttle import MAX_PEERS


def throttle() -> Throttle:
    return Throttle(what="logins", rate=2.0, burst=4, max_failures=3, window=60.0, lockout=60.0)


def test_a_burst_then_the_rate() -> None:
    gate = throttle()
    assert [gate.admit("10.0.0.1", 0.0) for _ in range(4)] == [None] * 4
    assert gate.admit("10.0.0.1", 0.0) == "too many logins from 10.0.0.1; slow down"
    assert gate.admit("10.0.0.2", 0.0) is None  # another peer has its own budget
    assert gate.admit("10.0.0.1", 0.5) is None  # refilled at 2 a second
    assert gate.admit("10.0.0.1", 0.5) is not None


def test_failures_within_the_window_lock_the_peer_out() -> None:
    gate = throttle()
    for now in (0.0, 10.0):
        assert gate.admit("p", now) is None
        assert not gate.failed("p", now)
    # Failures older than the window are forgotten.
    assert gate.admit("p", 75.0) is None and not gate.failed("p", 75.0)
    assert gate.admit("p", 76.0) is None and not gate.failed("p", 76.0)
    assert gate.admit("p", 77.0) is None and gate.failed("p", 77.0)
    # Locked out, whatever it sends, for the lockout; then it may try again.
    assert gate.admit("p", 78.0) == "too many failed logins from p; try again in 59s"
    assert gate.admit("q", 78.0) is None
    assert gate.admit("p", 136.0) is not None
    assert gate.admit("p", 137.5) is None


def test_it_remembers_a_bounded_number_of_peers() -> None:
    gate = throttle()
    for n in range(MAX_PEERS + 10):
        gate.admit(f"peer-{n}", 0.0)
    assert len(gate._peers) == MAX_PEERS
    assert "peer-0" not in gate._peers and f"peer-{MAX_PEERS + 9}" in gate._peers


def test_peer_host() -> None:
    assert peer_host("ipv4:10.0.0.7:51234") == "10.0.0.7"
    assert peer_host("ipv6:[::1]:5123") == "::1"
    assert peer_host("unix:/tmp/sock") == "unix:/tmp/sock"
