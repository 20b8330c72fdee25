"""Running `git` for the agent: no prompts, only the transports a workspace may name, and one
clear line when it fails."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from ...errors import TaskFailed
from ...model import FailureClass

# Config every call gets: no background gc while tasks share a clone, no hooks from a
# repository's own files, no signing prompts.
_CONFIG: Final = (
    "-c",
    "gc.auto=0",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "commit.gpgSign=false",
    "-c",
    "maintenance.auto=false",
)
_ENV: Final = {
    "GIT_TERMINAL_PROMPT": "0",  # fail, never wait for a password
    "GIT_ALLOW_PROTOCOL": "https:http:ssh:git:file",  # never ext:: and the like
    "LC_ALL": "C",
}


class GitError(Exception):
    """A git command failed; `line` is what it said was fatal (else its last line, else its
    exit status)."""

    def __init__(self, args: tuple[str, ...], returncode: int, stderr: str) -> None:
        said = [line.strip() for line in stderr.splitlines() if line.strip()]
        fatal = [line for line in said if line.startswith(("fatal: ", "error: "))]
        self.returncode = returncode
        if fatal:
            self.line = fatal[0].partition(": ")[2]
        else:
            self.line = said[-1] if said else f"git {args[0]} exited with status {returncode}"
        self.stderr = stderr
        super().__init__(self.line)


async def git(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, check: bool = True
) -> tuple[int, str]:
    """Run `git ARGS` in `cwd`; its exit status and standard output. Raises GitError when it
    fails (with `check`), TaskFailed (tool_missing) when git cannot be started."""
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            *_CONFIG,
            *args,
            cwd=cwd,
            env={**os.environ, **_ENV, **(env or {})},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise TaskFailed(
            f"git cannot be run here ({exc.strerror}): workspaces need git on the agent's PATH",
            failure_class=FailureClass.TOOL_MISSING,
        ) from None
    out, err = await proc.communicate()
    code = proc.returncode or 0
    if check and code != 0:
        raise GitError(args, code, err.decode(errors="replace"))
    return code, out.decode(errors="replace")
