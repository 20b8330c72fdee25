"""A task's `env`: plain values, and `secret:NAME` references the hub resolves at dispatch.

The task keeps the reference; the value travels only in the attempt's `Assign` (its secrets,
keyed by name) and the agent puts it in place of the reference just before the tool starts.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._bounds import MAX_NAME_LENGTH
from ._names import check_name
from ._text import shorten
from .errors import InvalidArgumentError

SECRET_PREFIX = "secret:"  # noqa: S105 - a marker, not a password


def secret_name(value: str) -> str | None:
    """The secret a value references (`secret:NAME`), None for a plain value."""
    return value[len(SECRET_PREFIX) :] if value.startswith(SECRET_PREFIX) else None


def references(env: Mapping[str, str]) -> dict[str, str]:
    """Each variable that references a secret, and the secret's name."""
    return {key: name for key, value in env.items() if (name := secret_name(value)) is not None}


def check_env(env: Mapping[str, str], *, max_name_length: int = MAX_NAME_LENGTH) -> None:
    """Raise InvalidArgumentError naming the variable unless every name is one an environment
    can hold (not empty, no "=" nor NUL byte), no value holds a NUL byte, and every reference
    names a secret by a valid name."""
    for key, value in env.items():
        shown = repr(shorten(key, 40))
        if not key:
            raise InvalidArgumentError("env: a variable's name must not be empty")
        if "=" in key or "\x00" in key:
            raise InvalidArgumentError(f"env {shown}: a name must not contain '=' or a NUL byte")
        if "\x00" in value:
            raise InvalidArgumentError(f"env {shown}: the value contains a NUL byte")
        name = secret_name(value)
        if name is not None:
            check_name(name, f"env {shown}: secret name", max_length=max_name_length)


def substitute(env: Mapping[str, str], secrets: Mapping[str, str]) -> dict[str, str]:
    """`env` with each reference replaced by its secret's value. Raises InvalidArgumentError
    naming the variable and the secret when `secrets` lacks one."""
    resolved = dict(env)
    for key, name in references(env).items():
        if name not in secrets:
            raise InvalidArgumentError(
                f"env {shorten(key, 40)}: secret {name!r} was not sent with the task"
            )
        resolved[key] = secrets[name]
    return resolved
