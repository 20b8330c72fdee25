"""Colour for a terminal: states in tables (SUCCEEDED green, FAILED red, ...), nothing else.

Off when the output is not a terminal, when NO_COLOR is set (https://no-color.org) or when
TERM is `dumb`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TextIO

_GREEN, _RED, _YELLOW, _BLUE, _GREY = "32", "31", "33", "34", "90"
_STATES = {
    "SUCCEEDED": _GREEN,
    "FAILED": _RED,
    "TIMED_OUT": _RED,
    "CANCELLED": _GREY,
    "SKIPPED": _GREY,
    "RUNNING": _BLUE,
    "ASSIGNED": _BLUE,
    "QUEUED": _YELLOW,
    "RETRY_WAIT": _YELLOW,
    "WAITING": _YELLOW,
    "connected": _GREEN,
    "draining": _YELLOW,
    "disconnected": _GREY,
    "lost": _RED,
}


def use_colour(stream: TextIO, env: Mapping[str, str]) -> bool:
    """Whether what goes to `stream` may be coloured."""
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except ValueError:  # a closed stream
        return False


def paint_state(text: str) -> str:
    """`text` (an already escaped cell) in its state's colour; other text as it is."""
    code = _STATES.get(text)
    return f"\x1b[{code}m{text}\x1b[0m" if code else text
