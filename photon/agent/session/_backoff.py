"""Reconnect delays: exponential, jittered, capped (SPEC §5: 1 s x1.6 +-20 %, cap 30 s)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    initial: float = 1.0
    multiplier: float = 1.6
    jitter: float = 0.2
    cap: float = 30.0

    def delay(self, failures: int, rng: random.Random) -> float:
        """The wait before the next attempt after `failures` consecutive failures (>= 1)."""
        # Bounding the exponent keeps a hub that is down for days from overflowing the float.
        base = min(self.cap, self.initial * self.multiplier ** min(max(failures - 1, 0), 64))
        return base * rng.uniform(1 - self.jitter, 1 + self.jitter)
