"""`${{ ... }}` in workflow step inputs: finding, checking and substituting them (pure).

Expressions are found by scanning for their delimiters and checked name by name, never with a
backtracking pattern, so the work is linear in the text whatever it holds (an unclosed `${{`,
runs of spaces or braces).
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator, Mapping
from typing import Any

from ...errors import InvalidArgumentError
from ..core import Limits

_OPEN = "${{"
_CLOSE = "}}"
_FIRST = frozenset(string.ascii_letters + "_")
_NAME = frozenset(string.ascii_letters + string.digits + "_-")
_SHOWN = 24  # characters of an over-long expression its error quotes


def _spans(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, inner text) of each expression: from `${{` up to the first `}}` after it,
    so a stray `}` inside (`format('{0}', ...)`) is still seen as an expression and refused,
    not passed on as literal text. A `${{` never closed, and all after it, is literal."""
    position = 0
    while (start := text.find(_OPEN, position)) != -1:
        end = text.find(_CLOSE, start + len(_OPEN))
        if end == -1:
            return
        yield start, end + len(_CLOSE), text[start + len(_OPEN) : end]
        position = end + len(_CLOSE)


def _is_path(path: str) -> bool:
    """`name(.name)*`: names of letters, digits, `_` and `-`, the first not starting with a
    digit or `-`."""
    names = path.split(".")
    return names[0][:1] in _FIRST and all(name and _NAME.issuperset(name) for name in names)


def _path(inner: str, limits: Limits | None) -> tuple[str, ...]:
    if limits is not None:
        shown = inner.strip()[:_SHOWN]
        limits.check("max_expression_length", len(inner), f"expression ${{{{ {shown}...")
    path = inner.strip()
    if not _is_path(path):
        raise InvalidArgumentError(f"expression ${{{{ {path} }}}} is not a name path")
    return tuple(path.split("."))


def references(value: Any, limits: Limits | None = None) -> Iterator[tuple[str, ...]]:
    """Every expression path in a value (nested lists and mappings), as tuples of names, in
    the order they are written.

    Raises InvalidArgumentError for an expression that is not a name path, or (given `limits`)
    one longer than max-expression-length.
    """
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            for _, _, inner in _spans(current):
                yield _path(inner, limits)
        elif isinstance(current, Mapping):
            stack.extend(reversed(list(current.values())))
        elif isinstance(current, list):
            stack.extend(reversed(current))


def _lookup(path: str, context: Mapping[str, Any]) -> Any:
    value: Any = context
    for name in path.split("."):
        if isinstance(value, Mapping) and name in value:
            value = value[name]
        elif isinstance(value, list) and name.isdigit() and int(name) < len(value):
            value = value[int(name)]
        else:
            raise InvalidArgumentError(f"${{{{ {path} }}}} has no value ({name!r} is missing)")
    return value


def substitute(value: Any, context: Mapping[str, Any]) -> Any:
    """Replace expressions; a string that is one whole expression keeps the value's type.

    Raises InvalidArgumentError naming an expression that has no value.
    """
    if isinstance(value, str):
        stripped = value.strip()
        first = next(_spans(stripped), None)
        if first is not None and first[0] == 0 and first[1] == len(stripped):
            return _lookup(first[2].strip(), context)
        parts: list[str] = []
        position = 0
        for start, end, inner in _spans(value):
            parts += (value[position:start], _text(_lookup(inner.strip(), context)))
            position = end
        return "".join((*parts, value[position:])) if parts else value
    if isinstance(value, Mapping):
        return {key: substitute(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, context) for item in value]
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
