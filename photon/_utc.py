"""Unix times as people and logs read them: RFC 3339 in UTC."""

from __future__ import annotations

import math
import time


def rfc3339(when: float, *, millis: bool = False) -> str:
    """`2026-12-01T12:00:00Z` for a Unix time, to the second; with `millis`, to the
    millisecond when the time has a fraction of one (`2026-12-01T12:00:00.250Z`). A time that
    is not finite as `str(when)`."""
    if not math.isfinite(when):
        return str(when)
    if not millis:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
    whole, fraction = divmod(round(when * 1000), 1000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return f"{text}.{fraction:03d}Z" if fraction else f"{text}Z"
