"""`${{ ... }}` substitution in workflow step inputs (pure)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from ...errors import InvalidArgumentError

# Up to the first `}}`, so a stray `}` inside (e.g. `format('{0}', ...)`) is still seen as an
# expression and rejected, not passed on as literal text.
EXPRESSION = re.compile(r"\$\{\{\s*((?:(?!\}\}).)*?)\s*\}\}", re.DOTALL)
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$")


def references(value: Any) -> Iterator[tuple[str, ...]]:
    """Every expression path in a value (nested lists and mappings), as tuples of names."""
    if isinstance(value, str):
        for match in EXPRESSION.finditer(value):
            path = match.group(1)
            if not _PATH.match(path):
                raise InvalidArgumentError(f"expression ${{{{ {path} }}}} is not a name path")
            yield tuple(path.split("."))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


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
        whole = EXPRESSION.fullmatch(value.strip())
        if whole:
            return _lookup(whole.group(1), context)
        return EXPRESSION.sub(lambda m: _text(_lookup(m.group(1), context)), value)
    if isinstance(value, Mapping):
        return {key: substitute(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, context) for item in value]
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
