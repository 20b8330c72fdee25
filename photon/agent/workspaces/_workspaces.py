"""`Workspaces`: the agent's clones, the tasks' worktrees, and cleaning up after them.

Layout in the data dir: `repos/KEY.git` (a bare clone per repository, its branches under
`refs/remotes/origin/`), `worktrees/TASK` (a task's worktree, on branch `photon/TASK`) and
`checkouts/KEY` (the shared checkout of a repository, on branch `photon/shared`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ..._repos import local_path, repo_name
from ...errors import TaskFailed
from ...model import FailureClass, Isolation, WorkspaceSpec
from ._git import GitError, git
from ._summary import Change, parse_numstat

log = logging.getLogger(__name__)

SHARED_BRANCH: Final = "photon/shared"
_BRANCHES: Final = "refs/heads/photon/"
_FETCH: Final = (
    "+HEAD:refs/remotes/origin/HEAD",
    "+refs/heads/*:refs/remotes/origin/*",
    "+refs/tags/*:refs/tags/*",
)
# What a fetch says when the network, not the repository, is at fault: worth another attempt.
_TRANSIENT = re.compile(
    r"could not resolve host|connection (refused|reset|timed out)|timed out|network is unreachable"
    r"|temporary failure",
    re.IGNORECASE,
)
_HEX = re.compile(r"[0-9a-fA-F]{7,64}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkout:
    """A task's checkout, ready for its tool: `path` is its working directory."""

    spec: WorkspaceSpec
    path: Path
    clone: Path
    base: str
    branch: str


class Workspaces:
    """Checkouts for tasks under `data_dir`. Local repositories (plain paths, file://) are
    taken only inside `local_roots`; commits are made as "PHOTON agent AGENT". Kept worktrees
    and finished branches older than `keep_days` go at `prune()` (the agent's start)."""

    def __init__(
        self,
        *,
        data_dir: Path,
        local_roots: Sequence[Path],
        agent_name: str,
        keep_days: float,
    ) -> None:
        self._repos = data_dir / "repos"
        self._worktrees = data_dir / "worktrees"
        self._checkouts = data_dir / "checkouts"
        self._local_roots = tuple(local_roots)
        self._keep = keep_days * 86400.0
        name = f"PHOTON agent {agent_name}"
        email = f"{re.sub(r'[^A-Za-z0-9._-]', '-', agent_name)}@photon.invalid"
        self._author = {
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
        }
        self._locks: dict[Path, asyncio.Lock] = {}

    def path_for(self, task_id: str, attempt: int, spec: WorkspaceSpec) -> Path:
        """The working directory the task's tool gets (made by `open`)."""
        if spec.isolate is Isolation.SHARED:
            return self._checkouts / _key(spec.repo)
        return self._worktrees / _branch_name(task_id, attempt)

    async def open(self, task_id: str, attempt: int, spec: WorkspaceSpec) -> Checkout:
        """Fetch the repository into its clone and check the task's worktree out from `ref`
        (for a shared checkout: make it the first time, then reuse it as the last task left
        it). Raises TaskFailed: invalid_input for a repository this agent may not or cannot
        fetch and for an unknown ref, tool_error for anything else git refuses."""
        source = self._source(spec.repo)
        clone = self._repos / f"{_key(spec.repo)}.git"
        path = self.path_for(task_id, attempt, spec)
        async with self._lock(clone):
            try:
                await self._fetch(clone, source, spec)
                base = await self._resolve(clone, spec)
                if spec.isolate is Isolation.SHARED:
                    return await self._shared(clone, path, spec, base)
                branch = f"photon/{path.name}"
                if _exists(path):  # an earlier epoch of this attempt left it
                    await git("worktree", "remove", "--force", str(path), cwd=clone)
                self._worktrees.mkdir(parents=True, exist_ok=True)
                await git("worktree", "add", "-q", "-B", branch, str(path), base, cwd=clone)
            except (GitError, OSError) as exc:
                raise TaskFailed(
                    f"workspace {spec.repo}: the checkout failed: {_said(exc)}",
                    failure_class=FailureClass.TOOL_ERROR,
                ) from None
        return Checkout(spec=spec, path=path, clone=clone, base=base, branch=branch)

    async def finish(
        self, checkout: Checkout, *, task_id: str, tool: str, ok: bool
    ) -> dict[str, Any]:
        """Commit what the tool changed and say what that was (the task's `workspace`
        output). A worktree goes once committed; one of a failed task stays for inspection,
        uncommitted. A shared checkout is committed either way and stays."""
        shared = checkout.spec.isolate is Isolation.SHARED
        if not ok and not shared:
            with contextlib.suppress(OSError):  # the tool may have removed it
                os.utime(checkout.path)  # kept from now on, for keep_days
            return {}
        async with self._lock(checkout.clone):
            try:
                commit = await self._commit(checkout, task_id=task_id, tool=tool, ok=ok)
                change = await _change(checkout, commit) if commit else Change()
                branch = checkout.branch
                if not shared:
                    await git(
                        "worktree", "remove", "--force", str(checkout.path), cwd=checkout.clone
                    )
                    if not commit:  # nothing to keep: the branch would only name the base
                        await git("branch", "-D", "--", branch, cwd=checkout.clone)
                        branch = ""
            except (GitError, OSError) as exc:
                raise TaskFailed(
                    f"workspace {checkout.spec.repo}: committing the task's changes failed:"
                    f" {_said(exc)} (the worktree is kept at {checkout.path})",
                    failure_class=FailureClass.TOOL_ERROR,
                ) from None
        return {
            "repo": checkout.spec.repo,
            "ref": checkout.spec.ref,
            "isolate": checkout.spec.isolate.value,
            "base": checkout.base,
            "branch": branch,
            "commit": commit,
            **change.outputs(),
        }

    async def prune(self, now: float | None = None) -> None:
        """Remove worktrees kept longer than keep_days, then the `photon/` branches checked out
        nowhere whose last commit is older than that. Logs what it cannot remove."""
        cutoff = (time.time() if now is None else now) - self._keep
        if self._worktrees.is_dir():
            for path in self._worktrees.iterdir():
                if path.lstat().st_mtime < cutoff:
                    log.info("removing the worktree %s, kept since it failed", path)
                    shutil.rmtree(path, ignore_errors=True)
        if not self._repos.is_dir():
            return
        for clone in sorted(self._repos.glob("*.git")):
            try:
                await git("worktree", "prune", cwd=clone)
                _, refs = await git(
                    "for-each-ref",
                    "--format=%(refname)%09%(committerdate:unix)%09%(worktreepath)",
                    _BRANCHES,
                    cwd=clone,
                )
                for line in refs.splitlines():
                    ref, date, worktree = line.split("\t")
                    if not worktree and int(date or 0) < cutoff:
                        await git("update-ref", "-d", ref, cwd=clone)
            except (GitError, TaskFailed) as exc:
                log.warning("cleaning up %s failed: %s", clone, exc)

    # -- the steps ----------------------------------------------------------------------------

    def _lock(self, clone: Path) -> asyncio.Lock:
        return self._locks.setdefault(clone, asyncio.Lock())

    def _source(self, repo: str) -> str:
        """What git fetches from; a local path only inside the agent's workspace roots."""
        path = local_path(repo)
        if path is None:
            return repo
        real = Path(os.path.realpath(path))
        roots = [Path(os.path.realpath(r)) for r in self._local_roots]
        if not any(real == r or r in real.parents for r in roots):
            allowed = ", ".join(map(str, roots)) or "none"
            raise _invalid(
                f"workspace repo {repo} is a local path outside this agent's workspace roots"
                f" ({allowed})"
            )
        return str(real)

    async def _fetch(self, clone: Path, source: str, spec: WorkspaceSpec) -> None:
        if not _exists(clone):
            self._repos.mkdir(parents=True, exist_ok=True)
            staging = clone.with_name(f".{clone.name}.{os.getpid()}")
            shutil.rmtree(staging, ignore_errors=True)
            await git("init", "-q", "--bare", str(staging), cwd=self._repos)
            await git("remote", "add", "origin", source, cwd=staging)
            staging.rename(clone)
        else:
            await git("remote", "set-url", "origin", source, cwd=clone)
        try:
            await git("fetch", "-q", "--no-tags", "--force", "origin", *_FETCH, cwd=clone)
        except GitError as exc:
            if _TRANSIENT.search(exc.stderr):
                raise TaskFailed(
                    f"workspace repo {spec.repo} cannot be fetched now: {exc.line}",
                    failure_class=FailureClass.TOOL_ERROR,
                ) from None
            raise _invalid(f"workspace repo {spec.repo} cannot be fetched: {exc.line}") from None

    async def _resolve(self, clone: Path, spec: WorkspaceSpec) -> str:
        """The commit `ref` names: a branch, then a tag, then a commit id; "" is HEAD."""
        names = (
            ["refs/remotes/origin/HEAD"]
            if not spec.ref
            else [f"refs/remotes/origin/{spec.ref}", f"refs/tags/{spec.ref}"]
            + ([spec.ref] if _HEX.fullmatch(spec.ref) else [])
        )
        for name in names:
            code, out = await git(
                "rev-parse",
                "-q",
                "--verify",
                "--end-of-options",
                f"{name}^{{commit}}",
                cwd=clone,
                check=False,
            )
            if code == 0:
                return out.strip()
        raise _invalid(f"workspace ref {spec.ref!r} is not a branch, tag or commit of {spec.repo}")

    async def _shared(self, clone: Path, path: Path, spec: WorkspaceSpec, base: str) -> Checkout:
        if _exists(path):
            _, head = await git("rev-parse", "HEAD", cwd=path)
            base = head.strip()
        else:
            self._checkouts.mkdir(parents=True, exist_ok=True)
            await git("worktree", "add", "-q", "-B", SHARED_BRANCH, str(path), base, cwd=clone)
        return Checkout(spec=spec, path=path, clone=clone, base=base, branch=SHARED_BRANCH)

    async def _commit(self, checkout: Checkout, *, task_id: str, tool: str, ok: bool) -> str:
        """Commit every change in the checkout; the commit, or "" when nothing changed."""
        path = checkout.path
        await git("add", "-A", cwd=path)
        code, _ = await git("diff", "--cached", "--quiet", cwd=path, check=False)
        if code == 0:
            return ""
        message = f"photon: task {task_id} ({tool})" + ("" if ok else ", which failed")
        await git("commit", "-q", "--no-verify", "-m", message, cwd=path, env=self._author)
        _, head = await git("rev-parse", "HEAD", cwd=path)
        return head.strip()


async def _change(checkout: Checkout, commit: str) -> Change:
    span = (checkout.base, commit)
    cwd = checkout.path
    _, numstat = await git("diff", "--no-renames", "--numstat", "-z", *span, cwd=cwd)
    _, stat = await git("diff", "--no-renames", "--stat=100", *span, cwd=cwd)
    _, patch = await git("diff", "--no-renames", "--no-color", *span, cwd=cwd)
    files, insertions, deletions = parse_numstat(numstat)
    return Change(
        files=files, insertions=insertions, deletions=deletions, stat=stat.rstrip("\n"), patch=patch
    )


def _branch_name(task_id: str, attempt: int) -> str:
    return task_id if attempt <= 1 else f"{task_id}-{attempt}"


def _key(repo: str) -> str:
    """A folder name for a repository: the end of its name, and a hash of all of it."""
    import hashlib  # at the first workspace: OpenSSL's set-up is not in the idle agent's memory

    name = repo_name(repo)
    tail = re.sub(r"[^A-Za-z0-9._-]", "_", name.rsplit("/", 1)[-1])[-40:].lstrip(".") or "repo"
    return f"{tail}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"


def _invalid(message: str) -> TaskFailed:
    return TaskFailed(message, failure_class=FailureClass.INVALID_INPUT)


def _said(exc: GitError | OSError) -> str:
    return exc.line if isinstance(exc, GitError) else f"{exc.strerror} ({exc.filename})"


def _exists(path: Path) -> bool:
    return path.exists()  # a quick look at the local disk, not worth a thread
