"""How much of the api port one connection may keep busy while others use it: pure rules over
the times they are given.

Each connection (a client's channel) earns `share` seconds of call time a second, holding up
to `burst`, and each call it makes is charged the seconds the call took. A connection whose
balance is spent waits before its next call starts, until the balance is back at zero, but only
while another connection has called within the last `active` seconds: alone, a client is never
held back. The balance goes no lower than -`burst`, so no call waits longer than
`burst / share` seconds.

The hub serves its clients from one event loop. A client sending the costliest requests the
limits allow, as fast as the hub answers them, would otherwise take as much of that loop as it
can, and every other client's tasks would wait their turn behind its requests; held to its
share, it leaves the rest to them.
"""

from __future__ import annotations

from dataclasses import dataclass

SHARE = 0.25  # seconds of call time a connection earns a second
BURST = 0.5  # seconds of call time a connection may have in hand (or owe)
ACTIVE = 1.0  # seconds since its last call that a connection counts as using the port
MAX_FLOWS = 10_000  # connections remembered at once; the quietest are forgotten first


@dataclass(slots=True)
class _Flow:
    balance: float  # seconds of call time in hand (negative: owed)
    as_of: float  # when the balance was last brought up to date
    seen: float  # when its last call started


class FairShare:
    def __init__(
        self, *, share: float = SHARE, burst: float = BURST, active: float = ACTIVE
    ) -> None:
        if share <= 0 or burst <= 0 or active <= 0:
            raise ValueError("share, burst and active must be positive")
        self._share = share
        self._burst = burst
        self._active = active
        self._flows: dict[str, _Flow] = {}  # the most recently seen last

    def delay(self, flow: str, now: float) -> float:
        """Seconds the call `flow` is starting waits first (0.0: none)."""
        state = self._flows.pop(flow, None)  # re-inserted last: the dict is kept oldest first
        if state is None:
            state = _Flow(balance=self._burst, as_of=now, seen=now)
        others_active = bool(self._flows) and now - self._last_seen() < self._active
        self._flows[flow] = state
        if len(self._flows) > MAX_FLOWS:
            del self._flows[next(iter(self._flows))]
        self._earn(state, now)
        state.seen = now
        if state.balance >= 0 or not others_active:
            return 0.0
        return -state.balance / self._share

    def charge(self, flow: str, seconds: float, now: float) -> None:
        """Charge `flow` for a call that took `seconds`."""
        state = self._flows.get(flow)
        if state is None:  # forgotten meanwhile
            return
        self._earn(state, now)
        state.balance = max(-self._burst, state.balance - max(0.0, seconds))

    def _earn(self, state: _Flow, now: float) -> None:
        earned = max(0.0, now - state.as_of) * self._share
        state.balance = min(self._burst, state.balance + earned)
        state.as_of = max(state.as_of, now)

    def _last_seen(self) -> float:
        return self._flows[next(reversed(self._flows))].seen
