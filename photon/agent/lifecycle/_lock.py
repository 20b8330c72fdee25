"""One agent per data dir: two daemons on one identity would fight over its stream and outbox."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

from ...errors import ConfigError
from ..config import AgentPaths


@contextlib.contextmanager
def hold_data_dir(paths: AgentPaths) -> Iterator[None]:
    """Hold the data dir's lock (and write this process's pid in it) until the block ends.

    Raises ConfigError naming the data dir, and the pid of the agent holding it when known.
    The kernel releases the lock when this process dies, however it dies.
    """
    try:
        # Not inherited (O_CLOEXEC is Python's default): a tool process that outlives the agent
        # must not keep the data dir locked.
        fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot lock data dir {paths.root}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            by = f" (pid {holder})" if holder else ""
            raise ConfigError(
                f"data dir {paths.root} is in use by another photon-agent{by};"
                " stop it first, or run this one with its own --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # still ours: nobody reads a stale pid after a clean stop
    finally:
        os.close(fd)


def _holder(fd: int) -> int | None:
    """The pid the holder wrote (None until it has, or if the file holds something else)."""
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None
