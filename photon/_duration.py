"""Durations as people write them: `90`, `90s`, `15m`, `1h30m`, `500ms`, `2d`."""

from __future__ import annotations

import re

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds, greater than zero; raises ValueError with a one-line reason."""
    spec = text.strip()
    if _NUMBER.fullmatch(spec):
        seconds = float(spec)
    elif _DURATION.fullmatch(spec):
        seconds = sum(
            float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(spec)
        )
    else:
        raise ValueError(
            f"invalid duration '{text}': expected e.g. 90, 90s, 15m, 1h30m, 500ms or 2d"
        )
    if seconds <= 0:
        raise ValueError(f"invalid duration '{text}': must be greater than zero")
    return seconds
