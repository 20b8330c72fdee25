"""Times as RFC 3339 text, in UTC: what logs and photonctl's JSON and YAML show."""

from __future__ import annotations

import math
from datetime import UTC, datetime

__all__ = ["rfc3339"]


def rfc3339(ts: float) -> str:
    """`2026-12-01T16:20:00Z`, with milliseconds when the time has a fraction of a second
    (`2026-12-01T16:20:00.250Z`); a time that is not finite as `str(ts)`."""
    if not math.isfinite(ts):
        return str(ts)
    millis = round(ts * 1000)
    moment = datetime.fromtimestamp(millis // 1000, UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{millis % 1000:03d}Z" if millis % 1000 else f"{text}Z"
