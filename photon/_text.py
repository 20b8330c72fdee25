"""A peer's text made safe to show and to quote: control characters escaped, length cut.

Names, labels and messages come from agents, tools and old data; shown raw, an ESC sequence
recolours or clears the terminal and a newline forges a line of a log or a table.
"""

from __future__ import annotations

import re

from ._bounds import MAX_QUOTE

# C0 and C1 controls, DEL, the line and paragraph separators and the bidirectional overrides
# and isolates (which reorder what follows them on screen).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_UNSAFE_BUT_NEWLINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    if named := _NAMED.get(char):
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every control character written as an escape (`\\n`, `\\x1b`, `\\u202e`);
    with `keep_newlines`, newlines stay (for text shown on several lines on purpose)."""
    pattern = _UNSAFE_BUT_NEWLINE if keep_newlines else _UNSAFE
    return pattern.sub(_escaped, text) if pattern.search(text) else text


def has_controls(text: str) -> bool:
    """Whether `text` holds a character `escape_controls` would escape."""
    return _UNSAFE.search(text) is not None


def shorten(text: str, most: int = MAX_QUOTE) -> str:
    """`text` as an error may quote it: cut to `most` characters, saying how long it was."""
    return text if len(text) <= most else f"{text[:most]}... ({len(text)} characters)"
