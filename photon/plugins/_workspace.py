"""Keeping paths from task inputs inside a workspace root."""

from __future__ import annotations

from pathlib import Path

from ..errors import TaskFailed
from ..model import FailureClass


def resolve_in_workspace(root: Path, path: str, *, field: str = "path") -> Path:
    """The real path of `path` (relative to `root`), which must stay inside `root`.

    Symlinks are resolved before the check, so a link pointing outside is refused too.
    Raises TaskFailed (invalid_input) naming the input field.
    """
    base = root.resolve()
    candidate = Path(path)
    if "\x00" in path:
        raise TaskFailed(
            f"input {field!r} contains a NUL byte", failure_class=FailureClass.INVALID_INPUT
        )
    resolved = (base / candidate).resolve() if not candidate.is_absolute() else candidate.resolve()
    if resolved != base and base not in resolved.parents:
        raise TaskFailed(
            f"input {field!r} ({path}) is outside the workspace {base}",
            failure_class=FailureClass.INVALID_INPUT,
        )
    return resolved
