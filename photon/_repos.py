"""A task's `workspace` (a git repository to check out): what it may say, and the one name a
repository goes by wherever it is spelled differently. Pure: no git, no file system."""

from __future__ import annotations

import posixpath
import re
from typing import Final

from ._text import has_controls, shorten
from .errors import InvalidArgumentError
from .model import Isolation, WorkspaceSpec

MAX_REPO_LENGTH: Final = 1024
MAX_REF_LENGTH: Final = 255
# The URL schemes a workspace may name; file:// and plain paths are local (see `local_path`).
REMOTE_SCHEMES: Final = ("https", "http", "ssh", "git")
# `isolate` as written: "none" is another word for "shared".
_ISOLATIONS: Final = {"": Isolation.WORKTREE, "none": Isolation.SHARED} | {
    i.value: i for i in Isolation
}
_URL = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*)://(?:[^@/]*@)?(?P<host>[^/:]*)(?::\d+)?(?P<path>/.*)?"
)
# git's scp-like form: [user@]host:path, where the host has no slash.
_SCP = re.compile(r"(?:[A-Za-z0-9._-]+@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>[^/].*|/.*)")
# What a branch, tag or commit name may hold: no spaces, none of ~^:?*[\ and no "..".
_REF = re.compile(r"[A-Za-z0-9._/@+-]+")


def isolation(text: str, field: str = "workspace.isolate") -> Isolation:
    """`isolate` as written ("" is worktree). Raises InvalidArgumentError naming `field`."""
    try:
        return _ISOLATIONS[text]
    except KeyError:
        raise InvalidArgumentError(
            f"{field} must be worktree or shared (or none), not {shorten(text, 40)!r}"
        ) from None


def check_workspace(spec: WorkspaceSpec, field: str = "workspace") -> None:
    """Raise InvalidArgumentError naming `field` for a repository that is not a URL of a known
    scheme, an scp-like address or an absolute path, or a ref git would not take as a name."""
    repo, ref = spec.repo, spec.ref
    if not repo:
        raise InvalidArgumentError(f"{field}.repo is required")
    if len(repo) > MAX_REPO_LENGTH or has_controls(repo):
        raise InvalidArgumentError(
            f"{field}.repo must be at most {MAX_REPO_LENGTH} characters, without control characters"
        )
    if repo.startswith("-") or (local_path(repo) is None and _remote_host(repo) is None):
        raise InvalidArgumentError(
            f"{field}.repo {shorten(repo, 80)!r} is not a repository: use a URL"
            f" ({', '.join(s + '://' for s in REMOTE_SCHEMES)}, file://), host:path, or an"
            " absolute path"
        )
    if ref and (
        len(ref) > MAX_REF_LENGTH
        or not _REF.fullmatch(ref)
        or ref.startswith(("-", "/"))
        or ref.endswith(("/", ".", ".lock"))
        or ".." in ref
        or "//" in ref
        or "@{" in ref
    ):
        raise InvalidArgumentError(
            f"{field}.ref {shorten(ref, 80)!r} is not a branch, tag or commit name"
        )
    if not isinstance(spec.isolate, Isolation):
        raise InvalidArgumentError(f"{field}.isolate must be worktree or shared")


def local_path(repo: str) -> str | None:
    """The normalised path a local repository names (a plain absolute path or file://), or
    None for a remote one."""
    if repo.startswith("file://"):
        path = repo.removeprefix("file://")
        return posixpath.normpath(path) if path.startswith("/") else None
    if repo.startswith("/"):
        return posixpath.normpath(repo)
    return None


def repo_name(repo: str) -> str:
    """The one name of a repository however it is spelled: host and path for a remote one
    (scheme, user, port, a trailing `.git` and `/` dropped, the host in lower case), the
    normalised path for a local one. `https://github.com/a/b.git` and `git@github.com:a/b` are
    both `github.com/a/b`."""
    path = local_path(repo)
    if path is not None:
        return path.removesuffix("/.git").removesuffix(".git")
    if (url := _URL.fullmatch(repo)) is not None:
        host, rest = url["host"], url["path"] or ""
    elif (scp := _SCP.fullmatch(repo)) is not None:
        host, rest = scp["host"], scp["path"]
    else:
        return repo
    rest = posixpath.normpath("/" + rest.strip("/")).rstrip("/").removesuffix(".git")
    return host.lower() + rest


def workspace_lock(spec: WorkspaceSpec) -> str | None:
    """The mesh-wide lock shared-checkout tasks of one repository take turns under; None for a
    worktree of its own."""
    if spec.isolate is not Isolation.SHARED:
        return None
    return f"repo:{repo_name(spec.repo)}"


def _remote_host(repo: str) -> str | None:
    if (url := _URL.fullmatch(repo)) is not None:
        host = url["host"] if url["scheme"] in REMOTE_SCHEMES else ""
    elif "::" in repo:  # git's <transport>::<address>, which can run programs
        host = ""
    else:
        host = scp["host"] if (scp := _SCP.fullmatch(repo)) is not None else ""
    # A host that reads as an option would be one to ssh.
    return host if host and not host.startswith("-") else None
