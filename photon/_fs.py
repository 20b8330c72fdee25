"""Filesystem helpers for data dirs that hold private keys."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import ConfigError


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) with mode 0700, or check an existing one; raises ConfigError."""
    if not path.exists():
        path.mkdir(mode=0o700, parents=True)
        # mkdir's mode is filtered through the umask; a key dir must not depend on it.
        path.chmod(0o700)
    check_private_dir(path)
    return path


def check_private_dir(path: Path) -> None:
    """Check that `path` is a directory only its owner can access; raises ConfigError."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"data dir {path} does not exist") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"data dir {path} is not a directory")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"data dir {path} is accessible by other users (mode {mode:04o}); run: chmod 700 {path}"
        )


def write_atomic(path: Path, data: bytes, *, mode: int, sync: bool = True) -> None:
    """Replace `path` with `data` so readers never see half a file; raises OSError.

    With `sync`, the new file is on disk when this returns (it survives a power loss);
    without, it survives a crash of this process but not of the machine.
    """
    # os.urandom, not secrets: that imports hashlib, and OpenSSL's set-up costs ~0.8 MB RSS.
    tmp = path.with_name(f".{path.name}.{os.urandom(8).hex()}.tmp")
    # O_EXCL plus the mode at creation: the key is never readable by others, not even briefly.
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
    try:
        try:
            # os.open's mode is filtered through the umask; the caller asked for exactly `mode`.
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if not sync:
        return
    # The rename is durable only once the directory entry itself is on disk.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
