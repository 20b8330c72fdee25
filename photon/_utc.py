"""Unix times as people and logs read them: RFC 3339 in UTC, to the second."""

from __future__ import annotations

import time


def rfc3339(when: float) -> str:
    """`2026-12-01T12:00:00Z` for a Unix time."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
