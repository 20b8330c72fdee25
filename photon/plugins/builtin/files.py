"""The `files` tool: read, write, delete and list files inside the task's workspace."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from ... import __version__
from ...errors import TaskFailed
from ...model import FailureClass
from .._api import PLUGIN_API_VERSION, Action, Detection, TaskContext
from .._workspace import WorkspacePath, subdir_at

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

    Every path is relative to that root (an absolute one must lie inside it); `..` is worked
    out from the names. A path that leaves the root, or that meets a symbolic link on the way
    (even one pointing inside), fails the task as `invalid_input`: each directory is opened
    relative to the one before it without following links, so a link swapped in while the
    task runs cannot lead outside either. Paths in the outputs are relative to the root, with
    `/` separators.

    - `read` {path} -> {path, content, size}: UTF-8 text (invalid bytes replaced), at most 4 MiB;
      a regular file only.
    - `write` {path, content, append=false, make_dirs=false} -> {path, size}: replaces the file
      atomically (readers see the old or the new content), or appends to a regular file.
    - `delete` {path, recursive=false} -> {deleted}: false when nothing was there; a directory
      only with `recursive`. A symlink named by the path is removed itself, not what it points
      to; a directory's links are removed, never followed.
    - `list` {path=".", recursive=false} -> {entries: [{path, type, size}], truncated}: type is
      file, dir, symlink or other; size is null except for files; at most 10,000 entries.
      Symlinks are listed, never entered.
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
        """Raises TaskFailed: `invalid_input` for bad inputs, paths outside the workspace or
        through a symbolic link, and files that are missing, too large or of the wrong kind
        (a write through a file used as a directory too); `tool_error` when the operating
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
        # Not resolved here: an absolute input path may name the root as configured.
        root = ctx.workdir.absolute()
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
    target = _target(root, inputs)
    rel = target.rel
    if not target.parts:
        raise _invalid("files read: . is not a regular file")
    try:
        parent = target.open_parent()
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer; the fstat below refuses it.
            fd = target.open_at(parent, os.O_RDONLY | os.O_NONBLOCK)
        finally:
            os.close(parent)
    except (FileNotFoundError, NotADirectoryError):  # a file on the way: not there either
        raise _invalid(f"files read: {rel} does not exist") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _invalid(f"files read: {rel} is not a regular file")
        if st.st_size > MAX_READ_BYTES:
            raise _invalid(
                f"files read: {rel} is {st.st_size} bytes; the limit is {MAX_READ_BYTES} (4 MiB)"
            )
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_READ_BYTES + 1)
    if len(data) > MAX_READ_BYTES:  # it grew since the stat
        raise _invalid(f"files read: {rel} is larger than 4 MiB")
    return {"path": rel, "content": data.decode("utf-8", errors="replace"), "size": len(data)}


def _write(root: Path, inputs: Mapping[str, Any]) -> dict[str, Any]:
    target = _target(root, inputs)
    content = inputs.get("content")
    if not isinstance(content, str):
        raise _invalid("input 'content' must be a string")
    append = _flag(inputs, "append")
    make_dirs = _flag(inputs, "make_dirs")
    rel = target.rel
    if not target.parts:
        raise _invalid(f"files write: {rel} is a directory")
    try:
        parent = target.open_parent(make_dirs=make_dirs)
    except FileNotFoundError:
        raise _invalid(
            f"files write: directory {target.parent_rel} does not exist"
            " (set make_dirs: true to create it)"
        ) from None
    except NotADirectoryError as exc:
        raise _invalid(f"files write: {exc.filename} is not a directory") from None
    data = content.encode()
    try:
        size = _append(target, parent, data) if append else _replace(target, parent, data)
    except IsADirectoryError:
        raise _invalid(f"files write: {rel} is a directory") from None
    finally:
        os.close(parent)
    return {"path": rel, "size": size}


def _append(target: WorkspacePath, parent: int, data: bytes) -> int:
    # O_NONBLOCK: a FIFO without a reader fails at once instead of blocking the thread.
    try:
        fd = target.open_at(parent, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a FIFO no one reads
            raise _invalid(f"files write: {target.rel} is not a regular file") from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _invalid(f"files write: {target.rel} is not a regular file")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "ab") as f:
        f.write(data)
        f.flush()
        return os.fstat(f.fileno()).st_size


def _replace(target: WorkspacePath, parent: int, data: bytes) -> int:
    """Write `data` to a new file beside the target, then rename it over the target.

    The rename replaces whatever has the name by then without following it, so a link swapped
    in meanwhile is replaced itself, inside the workspace."""
    name = target.name
    try:
        st: os.stat_result | None = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise _invalid(f"files write: {target.rel} is a directory")
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise target.link_refusal(target.rel)
    # An existing file keeps its mode; a new one gets 0o666 less the umask, as any new file.
    mode = stat.S_IMODE(st.st_mode) if st is not None and stat.S_ISREG(st.st_mode) else None
    # os.urandom, not secrets: that imports hashlib, and OpenSSL's set-up costs ~0.8 MB RSS.
    tmp = f".{name}.{os.urandom(6).hex()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o666, dir_fd=parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            if mode is not None:
                os.fchmod(f.fileno(), mode)
        os.replace(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=parent)
        raise
    return len(data)


def _delete(root: Path, inputs: Mapping[str, Any]) -> dict[str, Any]:
    target = _target(root, inputs)
    recursive = _flag(inputs, "recursive")
    rel = target.rel
    if not target.parts:
        raise _invalid("files delete: refusing to delete the workspace root")
    try:
        parent = target.open_parent()
    except (FileNotFoundError, NotADirectoryError):  # a file on the way: nothing there
        return {"path": rel, "deleted": False}
    try:
        try:
            st = os.stat(target.name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return {"path": rel, "deleted": False}
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(target.name, dir_fd=parent)  # a link goes itself, not what it points to
        elif recursive:
            _remove_tree(parent, target.name)
        else:
            raise _invalid(f"files delete: {rel} is a directory (set recursive: true)")
    finally:
        os.close(parent)
    return {"path": rel, "deleted": True}


def _remove_tree(parent: int, name: str) -> None:
    """Remove the directory `name` in `parent` and all below it, following no link.

    shutil.rmtree(dir_fd=) would do on Linux, but opens directories without O_NOFOLLOW (a FIFO
    swapped in blocks it), recurses in Python and is not available on macOS. Holds one
    descriptor per level of depth."""
    top = subdir_at(parent, name)
    if top is None:  # replaced by a file or a link meanwhile: it goes as one
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=parent)
        return
    # Each level: its descriptor, its parent's, its name there, the subdirectories still to do.
    stack = [(top, parent, name, iter(_clear_files(top)))]
    try:
        while stack:
            fd, up, dname, subdirs = stack[-1]
            sub = next(subdirs, None)
            if sub is not None:
                child = subdir_at(fd, sub)
                if child is None:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(sub, dir_fd=fd)
                else:
                    stack.append((child, fd, sub, iter(_clear_files(child))))
                continue
            stack.pop()
            os.close(fd)
            os.rmdir(dname, dir_fd=up)
    finally:
        for fd, *_ in stack:
            os.close(fd)


def _clear_files(fd: int) -> list[str]:
    """Unlink everything in the directory `fd` but its subdirectories, which it returns."""
    subdirs = []
    with os.scandir(fd) as scan:
        entries = list(scan)
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            subdirs.append(entry.name)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.name, dir_fd=fd)
    return sorted(subdirs)


def _list(root: Path, inputs: Mapping[str, Any]) -> dict[str, Any]:
    raw = inputs.get("path", ".")
    if not isinstance(raw, str) or not raw:
        raise _invalid("input 'path' must be a non-empty string")
    target = WorkspacePath.of(root, raw, field="path")
    recursive = _flag(inputs, "recursive")
    top = target.rel
    try:
        fd = target.open_dir()
    except FileNotFoundError:
        raise _invalid(f"files list: {top} does not exist") from None
    except NotADirectoryError:
        raise _invalid(f"files list: {top} is not a directory") from None
    try:
        entries, truncated = _walk_listing(fd, target.parts, recursive=recursive)
    finally:
        os.close(fd)
    return {"path": top, "entries": entries, "truncated": truncated}


def _walk_listing(
    top: int, parts: tuple[str, ...], *, recursive: bool
) -> tuple[list[dict[str, Any]], bool]:
    """The entries below the directory `top`, depth first in name order: a directory's
    entries follow it. Subdirectories are opened relative to their parent with O_NOFOLLOW:
    one swapped for a link meanwhile is not entered."""
    entries: list[dict[str, Any]] = []
    # Each level: its descriptor (None for `top`, which the caller owns), its names, its rest.
    stack: list[tuple[int | None, tuple[str, ...], Iterator[os.DirEntry[str]]]] = [
        (None, parts, iter(_children(top)))
    ]
    try:
        while stack:
            fd, names, children = stack[-1]
            entry = next(children, None)
            if entry is None:
                stack.pop()
                if fd is not None:
                    os.close(fd)
                continue
            if len(entries) >= MAX_LIST_ENTRIES:
                return entries, True
            kind, size = _kind(entry)
            path = (*names, entry.name)
            entries.append({"path": "/".join(path), "type": kind, "size": size})
            if recursive and kind == "dir":
                child = subdir_at(top if fd is None else fd, entry.name)
                if child is not None:
                    stack.append((child, path, iter(_children(child))))
    finally:
        for fd, _, _ in stack:
            if fd is not None:
                os.close(fd)
    return entries, False


def _children(directory: int) -> list[os.DirEntry[str]]:
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


def _target(root: Path, inputs: Mapping[str, Any]) -> WorkspacePath:
    return WorkspacePath.of(root, _string(inputs, "path"), field="path")


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
