"""Keeping paths from task inputs inside a workspace root.

Two ways, for two uses. `resolve_in_workspace` checks a path once and returns it as a string,
for a path handed to another program (a `cwd`): what happens to it afterwards is that
program's business. `open_in_workspace` and `WorkspacePath` are for files the plugin opens
itself: they walk the path one name at a time from a descriptor of the root, opening each
directory relative to the last with O_NOFOLLOW, so no symbolic link is ever followed and there
is no moment between checking a path and using it that a swapped-in link could exploit.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..errors import TaskFailed
from ..model import FailureClass

# Opening a directory that is being swapped with something else, before giving up.
_ATTEMPTS: Final = 3


def resolve_in_workspace(root: Path, path: str, *, field: str = "path") -> Path:
    """The real path of `path` (relative to `root`), which must stay inside `root`.

    Symlinks are resolved before the check, so a link pointing outside is refused too. The
    check holds when it is made: a link swapped in afterwards is not seen, so use it for a path
    handed to another program, and `open_in_workspace` to open a file yourself.
    Raises TaskFailed (invalid_input) naming the input field.
    """
    base = root.resolve()
    candidate = Path(path)
    if "\x00" in path:
        raise _nul(field)
    resolved = (base / candidate).resolve() if not candidate.is_absolute() else candidate.resolve()
    if resolved != base and base not in resolved.parents:
        raise _outside(field, path, base)
    return resolved


def open_in_workspace(
    root: Path,
    path: str,
    flags: int,
    mode: int = 0o666,
    *,
    field: str = "path",
    make_dirs: bool = False,
) -> int:
    """`os.open(path, flags, mode)` for `path` inside `root`, following no symbolic link.

    `path` is relative to `root` (an absolute one must lie inside it); `..` is worked out from
    the names, never by asking the file system. Each directory on the way is opened relative to
    the one before with O_NOFOLLOW, and so is the file (O_NOFOLLOW and O_CLOEXEC are added to
    `flags`), so a link anywhere on the way is refused even if it is swapped in while this
    runs. `make_dirs` creates missing directories on the way (mode 0o777, less the umask).
    Returns a file descriptor the caller must close.

    Raises TaskFailed (invalid_input) naming `field` for a path outside `root`, a NUL byte, or
    a symbolic link on the way; OSError as os.open does otherwise (FileNotFoundError when a
    directory on the way is missing, NotADirectoryError when one is a file, with `filename` the
    path of that directory relative to `root`).
    """
    target = WorkspacePath.of(root, path, field=field)
    if not target.parts:
        return os.open(target.root, flags | os.O_CLOEXEC, mode)
    parent = target.open_parent(make_dirs=make_dirs)
    try:
        return target.open_at(parent, flags, mode)
    finally:
        os.close(parent)


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkspacePath:
    """A path from a task's inputs as names below the workspace root, checked lexically.

    Operations go through directory descriptors (`open_parent`, `open_dir`, `open_at`) and refuse
    every symbolic link on the way, so nothing can move the path outside while they run.
    """

    root: Path
    parts: tuple[str, ...]
    raw: str
    field: str

    @classmethod
    def of(cls, root: Path, raw: str, *, field: str = "path") -> WorkspacePath:
        """Raises TaskFailed (invalid_input) for a NUL byte or a path outside `root`."""
        if "\x00" in raw:
            raise _nul(field)
        base = root.resolve()
        rel = raw
        if os.path.isabs(raw):
            normal = os.path.normpath(raw)
            # The root as resolved or as configured: a path may come in with either spelling.
            spellings = [str(base).rstrip("/"), os.path.abspath(root).rstrip("/")]
            inside = [s for s in spellings if normal == s or normal.startswith(s + "/")]
            if not inside:
                raise _outside(field, raw, base)
            rel = normal[len(inside[0]) :]
        return cls(root=base, parts=_names(rel, raw, field, base), raw=raw, field=field)

    @property
    def rel(self) -> str:
        """The path relative to the root, with `/` separators; "." for the root itself."""
        return "/".join(self.parts) or "."

    @property
    def name(self) -> str:
        """The last name; "" for the root itself."""
        return self.parts[-1] if self.parts else ""

    @property
    def parent_rel(self) -> str:
        return "/".join(self.parts[:-1]) or "."

    def open_parent(self, *, make_dirs: bool = False) -> int:
        """A descriptor of the directory holding the last name (the root's own for the root),
        which the caller must close. Raises as `open_in_workspace` does."""
        return self._walk(self.parts[:-1], make_dirs=make_dirs)

    def open_dir(self) -> int:
        """A descriptor of the path itself, which must be a directory; the caller closes it.
        Raises as `open_in_workspace` does."""
        return self._walk(self.parts, make_dirs=False)

    def open_at(self, parent: int, flags: int, mode: int = 0o666) -> int:
        """os.open of the last name in `parent`, with O_NOFOLLOW; a link there is refused."""
        try:
            return os.open(self.name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=parent)
        except OSError as exc:
            # With O_NOFOLLOW, ELOOP means the name itself is a link (it may be gone by now).
            if exc.errno == errno.ELOOP:
                raise self.link_refusal(self.rel) from None
            raise

    def link_refusal(self, rel: str) -> TaskFailed:
        """The failure for meeting a symbolic link at `rel` (relative to the root)."""
        return TaskFailed(
            f"input {self.field!r} ({self.raw}): {rel} is a symbolic link,"
            " and paths through links are refused",
            failure_class=FailureClass.INVALID_INPUT,
        )

    def _walk(self, names: Sequence[str], *, make_dirs: bool) -> int:
        try:
            # The root comes from the agent's config, which may well name it through a link.
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise TaskFailed(
                f"the workspace {self.root} cannot be opened: {exc.strerror}",
                failure_class=FailureClass.TOOL_ERROR,
            ) from exc
        try:
            for i, name in enumerate(names):
                child = self._open_dir(fd, name, "/".join(names[: i + 1]), make_dirs=make_dirs)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _open_dir(self, fd: int, name: str, rel: str, *, make_dirs: bool) -> int:
        try:
            return self._open_dir_once(fd, name, rel)
        except FileNotFoundError:
            if not make_dirs:
                raise
        try:
            os.mkdir(name, 0o777, dir_fd=fd)
        except FileExistsError:
            pass  # made meanwhile: opening it checks what it is
        return self._open_dir_once(fd, name, rel)

    def _open_dir_once(self, fd: int, name: str, rel: str) -> int:
        # Linux says ENOTDIR, not ELOOP, for a link opened with O_DIRECTORY | O_NOFOLLOW, so
        # what the name is gets looked up after a refusal; if it is a directory by then, it was
        # swapped meanwhile and opening it again is as safe as the first try.
        for _ in range(_ATTEMPTS):
            try:
                return os.open(name, _dir_flags(), dir_fd=fd)
            except OSError as exc:
                if exc.errno not in {errno.ELOOP, errno.ENOTDIR}:
                    # Named relative to the root, not by the bare name os.open saw.
                    raise OSError(exc.errno, exc.strerror, rel) from None
                kind = _kind_at(fd, name)
                if exc.errno == errno.ELOOP or kind == stat.S_IFLNK:
                    raise self.link_refusal(rel) from None
                if kind != stat.S_IFDIR:
                    raise OSError(exc.errno, exc.strerror, rel) from None
        # It keeps changing between a directory and something else: someone is swapping it.
        raise self.link_refusal(rel)


def subdir_at(parent: int, name: str) -> int | None:
    """A descriptor of the directory `name` in `parent`, opened with O_NOFOLLOW; None when
    `name` is not a directory (now): gone, a file, or a link."""
    try:
        return os.open(name, _dir_flags(), dir_fd=parent)
    except OSError as exc:
        if exc.errno in {errno.ELOOP, errno.ENOTDIR, errno.ENOENT}:
            return None
        raise


def _dir_flags() -> int:
    # How every directory on the way is opened: a link, even one pointing inside, is refused.
    # Looked up when used, not at import: Windows has no O_NOFOLLOW (nor dir_fd).
    return os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _kind_at(dir_fd: int, name: str) -> int | None:
    """The file type (stat.S_IFMT) of `name` in `dir_fd` now, not following it; None if gone."""
    try:
        return stat.S_IFMT(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return None


def _names(rel: str, raw: str, field: str, base: Path) -> tuple[str, ...]:
    """`rel` split into names, `.` dropped and `..` taking the name before it away."""
    names: list[str] = []
    for name in rel.split("/"):
        if name in {"", "."}:
            continue
        if name == "..":
            if not names:
                raise _outside(field, raw, base)
            names.pop()
        else:
            names.append(name)
    return tuple(names)


def _nul(field: str) -> TaskFailed:
    return TaskFailed(
        f"input {field!r} contains a NUL byte", failure_class=FailureClass.INVALID_INPUT
    )


def _outside(field: str, path: str, base: Path) -> TaskFailed:
    return TaskFailed(
        f"input {field!r} ({path}) is outside the workspace {base}",
        failure_class=FailureClass.INVALID_INPUT,
    )
