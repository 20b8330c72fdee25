"""Small helpers the AI CLI adapters share: reading loosely typed event values, checking inputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from ..errors import TaskFailed
from ..model import FailureClass

# The most characters of tool output or arguments an event's text carries.
MAX_EVENT_TEXT: Final = 4000


def as_str(value: Any) -> str:
    """`value` if it is a string, else ""."""
    return value if isinstance(value, str) else ""


def as_dict(value: Any) -> Mapping[str, Any]:
    """`value` if it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def as_dicts(value: Any) -> list[Mapping[str, Any]]:
    """The mappings in `value` if it is a list (other items skipped), else []."""
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def last_line(lines: Sequence[str]) -> str:
    """The last line that is not blank, stripped; "" if there is none."""
    return next((line.strip() for line in reversed(lines) if line.strip()), "")


def clip(text: str) -> str:
    """`text` cut to MAX_EVENT_TEXT characters, marked "… (truncated)" when cut."""
    return text if len(text) <= MAX_EVENT_TEXT else text[:MAX_EVENT_TEXT] + "… (truncated)"


# -- inputs: the hub does not check them against the schema, so the adapter does --------------


def invalid(field: str, expected: str, source: str) -> TaskFailed:
    """The invalid_input failure "<source> '<field>' must be <expected>"."""
    return TaskFailed(
        f"{source} {field!r} must be {expected}", failure_class=FailureClass.INVALID_INPUT
    )


def text_field(
    values: Mapping[str, Any], field: str, *, required: bool = False, source: str = "input"
) -> str:
    """The string `values[field]`, "" when absent; non-empty if `required`; else invalid().

    The adapters put these on a command line, so a NUL byte (where the OS would cut it) is
    invalid too."""
    value = values.get(field)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise invalid(field, "a non-empty string" if required else "a string", source)
    if "\x00" in value:
        raise invalid(field, "a string without NUL bytes", source)
    return value


def strings_field(values: Mapping[str, Any], field: str, *, source: str = "input") -> list[str]:
    """The list of strings `values[field]`, [] when absent; else invalid() (a NUL byte in one
    too, as in text_field)."""
    value = values.get(field)
    if value is None:
        return []
    if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise invalid(field, "a list of strings", source)
    if any("\x00" in v for v in value):
        raise invalid(field, "a list of strings without NUL bytes", source)
    return list(value)
