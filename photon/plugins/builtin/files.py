"""The `files` tool: read, write, delete and list files inside the task's workspace."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from ... import __version__
from ...errors import TaskFailed
from ...model import FailureClass
from .._api import PLUGIN_API_VERSION, Action, Detection, TaskContext
from .._workspace import resolve_in_workspace

MAX_READ_BYTES: Final = 4 * 1024 * 1024
MAX_LIST_ENTRIES: Final = 10_000

_PATH = {"type": "string", "minLength": 1, "description": "Relative to the workspace root"}

_READ_SCHEMA: Final = {
    "type": "object",
    "properties": {"path": _PATH},
    "required": ["path"],
    "additionalProperties": False,
}
_WRITE_SCHEMA: Final = {
    "type": "object",
    "properties": {
        "path": _PATH,
        "content": {"type": "string"},
        "append": {"type": "boolean", "default": False},
        "make_dirs": {"type": "boolean", "default": False},
    },
    "required": ["path", "content"],
    "additionalProperties": False,
}
_DELETE_SCHEMA: Final = {
    "type": "object",
    "properties": {"path": _PATH, "recursive": {"type": "boolean", "default": False}},
    "required": ["path"],
    "additionalProperties": False,
}
_LIST_SCHEMA: Final = {
    "type": "object",
    "properties": {
        "path": {**_PATH, "default": "."},
        "recursive": {"type": "boolean", "default": False},
    },
    "additionalProperties": False,
}


class FilesPlugin:
    """Files inside the task's working directory (the agent's first workspace root).

    Every path is relative to that root (an absolute one must lie inside it); a path that
    leaves it, by `..` or through a symlink, fails the task as `invalid_input`. Paths in the
    outputs are relative to the root, with `/` separators.

    - `read` {path} -> {path, content, size}: UTF-8 text (invalid bytes replaced), at most 4 MiB.
    - `write` {path, content, append=false, make_dirs=false} -> {path, size}: replaces the file
      atomically (readers see the old or the new content), or appends to it.
    - `delete` {path, recursive=false} -> {deleted}: false when nothing was there; a directory
      only with `recursive`. A symlink is removed itself, not what it points to.
    - `list` {path=".", recursive=false} -> {entries: [{path, type, size}], truncated}: type is
      file, dir, symlink or other; size is null except for files; at most 10,000 entries.
      Symlinked directories are not followed.
    """

    name = "files"
    version = __version__
    api_version = PLUGIN_API_VERSION
    actions = (
        Action(name="read", description="Read a text file", input_schema=_READ_SCHEMA),
        Action(name="write", description="Write or append to a file", input_schema=_WRITE_SCHEMA),
        Action(
            name="delete", description="Delete a file or directory", input_schema=_DELETE_SCHEMA
        ),
        Action(name="list", description="List a directory", input_schema=_LIST_SCHEMA),
    )
    default_action = "list"
    enabled_by_default = True

    async def detect(self) -> Detection:
        return Detection(available=True, version="builtin")

    async def run(self, ctx: TaskContext) -> Mapping[str, Any]:
        """Raises TaskFailed: `invalid_input` for bad inputs, paths outside the workspace and
        files that are missing, too large or of the wrong kind; `tool_error` when the operating
        system refuses (permissions, disk full). Runs in a worker thread; the check for
        `ctx.cancelled` happens before it starts."""
        action = ctx.action or self.default_action
        handler = _HANDLERS.get(action)
        if handler is None:
            raise TaskFailed(
                f"files: unknown action {action!r} (read, write, delete, list)",
                failure_class=FailureClass.INVALID_INPUT,
            )
        if ctx.cancelled.is_set():
            raise TaskFailed("files: cancelled", failure_class=FailureClass.CANCELLED)
        root = ctx.workdir.resolve()
        inputs = ctx.inputs
        try:
            outputs = await asyncio.to_thread(handler, root, inputs)
        except OSError as exc:
            target = inputs.get("path", ".")
            raise TaskFailed(
                f"files {action} {target}: {exc.strerror or exc}",
                failure_class=FailureClass.TOOL_ERROR,
            ) from exc
        ctx.emit("log", f"files {action} {outputs.get('path', inputs.get('path', '.'))}")
        return outputs


def _read(root: Path, inputs: Mapping[str, Any]) -> dict[str, Any]:
    path = _resolve(root, _string(inputs, "path"))
    try:
        # O_NOFOLLOW: the path was resolved, so a link here was swapped in since; refuse it.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise _invalid(f"files read: {_rel(root, path)} does not exist") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _invalid(f"files read: {_rel(root, path)} is not a regular file")
        if st.st_size > MAX_READ_BYTES:
            raise _invalid(
                f"files read: {_rel(root, path)} is {st.st_size} bytes;"
                f" the limit is {MAX_READ_BYTES} (4 MiB)"
            )
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_READ_BYTES + 1)
    if len(data) > MAX_READ_BYTES:  # it grew since the stat
        raise _invalid(f"files read: {_rel(root, path)} is larger than 4 MiB")
    return {
        "path": _rel(root, path),
        "content": data.decode("utf-8", errors="replace"),
        "size": len(data),
    }


def _write(root: Path, inputs: Mapping[str, Any]) -> dict[str, Any]:
    path = _resolve(root, _string(inputs, "path"))
    content = inputs.get("content")
    if not isinstance(content, str):
        raise _invalid("input 'content' must be a string")
    append = _flag(inputs, "append")
    make_dirs = _flag(inputs, "make_dirs")
    rel = _rel(root, path)
    if path == root or path.is_dir():
        raise _invalid(f"files write: {rel} is a directory")
    if not path.parent.is_dir():
        if not make_dirs:
            raise _invalid(
                f"files write: directory {_rel(root, path.parent)} does not exist"
                " (set make_dirs: true to create it)"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode()
    if append:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
    else:
        _replace(path, data)
        size = len(data)
    return {"path": rel, "size": size}


def _replace(path: Path, data: bytes) -> None:
    """Write `data` to a new file beside `path`, then rename it over `path`."""
    # os.urandom, not secrets: that imports hashlib, and OpenSSL's set-up costs ~0.8 MB RSS.
    tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = None
    # 0o666 filtered by the umask, as for any new file; an existing file keeps its mode.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            if mode is not None:
                os.fchmod(f.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _delete(root: Path, inputs: Mapping[str, Any]) -> dict[str, Any]:
    raw = _string(inputs, "path")
    recursive = _flag(inputs, "recursive")
    resolved = _resolve(root, raw)
    path = _unresolved_leaf(root, raw, resolved)
    rel = _rel(root, path)
    if resolved == root:
        raise _invalid("files delete: refusing to delete the workspace root")
    if path.is_symlink():
        path.unlink()
        return {"path": rel, "deleted": True}
    if not path.exists():
        return {"path": rel, "deleted": False}
    if path.is_dir():
        if not recursive:
            raise _invalid(f"files delete: {rel} is a directory (set recursive: true)")
        shutil.rmtree(path)
    else:
        path.unlink()
    return {"path": rel, "deleted": True}


def _unresolved_leaf(root: Path, raw: str, resolved: Path) -> Path:
    """`raw` with its directories resolved but its last component kept, so `delete` removes a
    symlink itself rather than its target (which `resolved` names)."""
    leaf = Path(raw).name
    if leaf in {"", ".", ".."}:
        return resolved
    parent = resolve_in_workspace(root, str(Path(raw).parent), field="path")
    return parent / leaf


def _list(root: Path, inputs: Mapping[str, Any]) -> dict[str, Any]:
    raw = inputs.get("path", ".")
    if not isinstance(raw, str) or not raw:
        raise _invalid("input 'path' must be a non-empty string")
    top = _resolve(root, raw)
    recursive = _flag(inputs, "recursive")
    if not top.exists():
        raise _invalid(f"files list: {_rel(root, top)} does not exist")
    if not top.is_dir():
        raise _invalid(f"files list: {_rel(root, top)} is not a directory")
    entries: list[dict[str, Any]] = []
    # Depth first, in name order: a directory's entries follow it.
    stack = [iter(_children(top))]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        if len(entries) >= MAX_LIST_ENTRIES:
            return {"path": _rel(root, top), "entries": entries, "truncated": True}
        kind, size = _kind(entry)
        entries.append({"path": _rel(root, Path(entry.path)), "type": kind, "size": size})
        if recursive and kind == "dir":
            stack.append(iter(_children(Path(entry.path))))
    return {"path": _rel(root, top), "entries": entries, "truncated": False}


def _children(directory: Path) -> list[os.DirEntry[str]]:
    with os.scandir(directory) as scan:
        return sorted(scan, key=lambda e: e.name)


def _kind(entry: os.DirEntry[str]) -> tuple[str, int | None]:
    try:
        st = entry.stat(follow_symlinks=False)
    except FileNotFoundError:  # removed while we listed
        return "other", None
    if stat.S_ISLNK(st.st_mode):
        return "symlink", None
    if stat.S_ISDIR(st.st_mode):
        return "dir", None
    if stat.S_ISREG(st.st_mode):
        return "file", st.st_size
    return "other", None


def _resolve(root: Path, raw: str) -> Path:
    return resolve_in_workspace(root, raw, field="path")


def _rel(root: Path, path: Path) -> str:
    with contextlib.suppress(ValueError):
        return path.relative_to(root).as_posix() or "."
    return path.as_posix()


def _string(inputs: Mapping[str, Any], key: str) -> str:
    value = inputs.get(key)
    if not isinstance(value, str) or not value:
        raise _invalid(f"input {key!r} must be a non-empty string")
    return value


def _flag(inputs: Mapping[str, Any], key: str) -> bool:
    value = inputs.get(key, False)
    if not isinstance(value, bool):
        raise _invalid(f"input {key!r} must be true or false")
    return value


def _invalid(message: str) -> TaskFailed:
    return TaskFailed(message, failure_class=FailureClass.INVALID_INPUT)


_HANDLERS: Final = {"read": _read, "write": _write, "delete": _delete, "list": _list}
