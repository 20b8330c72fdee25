"""How often one peer may try a credential (an API key at Login, a join token at Join): pure
rules over the times it is given.

Each peer (an IP address) has a budget of attempts refilled at `rate` a second, holding
`burst`; and `max_failures` failed attempts within `window` seconds lock it out for `lockout`
seconds, whatever it sends meanwhile. Guessing a 256-bit secret is hopeless anyway; this keeps
a guesser from costing the hub a signature check or a store read per try, and says so in the
log and the audit trail.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from ..core import Limits

MAX_PEERS = 10_000  # peers remembered at once; the quietest are forgotten first


@dataclass(slots=True)
class _Peer:
    tokens: float
    as_of: float
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class Throttle:
    def __init__(
        self,
        *,
        what: str,
        rate: float,
        burst: int,
        max_failures: int,
        window: float = 60.0,
        lockout: float = 60.0,
    ) -> None:
        self._what = what  # "logins", "joins": for the messages
        self._rate = rate
        self._burst = float(burst)
        self._max_failures = max_failures
        self._window = window
        self._lockout = lockout
        self._peers: dict[str, _Peer] = {}

    def admit(self, peer: str, now: float) -> str | None:
        """Take one attempt for `peer`; why it is refused, or None."""
        state = self._peers.pop(peer, None)  # re-inserted last: the dict is kept oldest first
        if state is None:
            state = _Peer(tokens=self._burst, as_of=now)
        self._peers[peer] = state
        if len(self._peers) > MAX_PEERS:
            del self._peers[next(iter(self._peers))]
        if now < state.locked_until:
            wait = math.ceil(state.locked_until - now)
            return f"too many failed {self._what} from {peer}; try again in {wait}s"
        state.tokens = min(self._burst, state.tokens + (now - state.as_of) * self._rate)
        state.as_of = now
        if state.tokens < 1:
            return f"too many {self._what} from {peer}; slow down"
        state.tokens -= 1
        return None

    def failed(self, peer: str, now: float) -> bool:
        """Count a failed attempt; whether it locks the peer out."""
        state = self._peers.get(peer)
        if state is None:
            return False
        failures = state.failures
        failures.append(now)
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        if len(failures) >= self._max_failures:
            state.locked_until = now + self._lockout
            failures.clear()
            return True
        return False


def auth_throttle(limits: Limits, what: str) -> Throttle:
    """A peer's budget for trying credentials (`what`: "logins", "joins")."""
    return Throttle(
        what=what,
        rate=limits.max_auth_attempts_per_second,
        burst=2 * limits.max_auth_attempts_per_second,
        max_failures=limits.max_auth_failures_per_minute,
    )


def peer_host(peer: str) -> str:
    """The address of a gRPC peer string (`ipv4:10.0.0.7:51234`, `ipv6:[::1]:5123`)."""
    kind, _, rest = peer.partition(":")
    if kind not in {"ipv4", "ipv6"}:
        return peer
    host, _, _ = rest.rpartition(":")
    return host.strip("[]") or rest
