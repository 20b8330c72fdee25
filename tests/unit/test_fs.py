import os
import stat
from pathlib import Path

import pytest

from photon._fs import check_private_dir, ensure_private_dir, write_atomic
from photon.errors import ConfigError


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ensure_private_dir_creates_owner_only_dir(tmp_path: Path) -> None:
    path = tmp_path / "a" / "data"
    assert ensure_private_dir(path) == path
    assert _mode(path) == 0o700
    # Idempotent on an existing private dir.
    assert ensure_private_dir(path) == path


def test_loose_dir_is_refused_with_chmod_hint(tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.mkdir()
    path.chmod(0o755)
    expected = f"data dir {path} is accessible by other users (mode 0755); run: chmod 700 {path}"
    with pytest.raises(ConfigError) as info:
        ensure_private_dir(path)
    assert str(info.value) == expected
    path.chmod(0o710)
    with pytest.raises(ConfigError, match="mode 0710"):
        check_private_dir(path)


def test_check_private_dir_missing_or_not_a_dir(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        check_private_dir(tmp_path / "missing")
    file = tmp_path / "file"
    file.write_bytes(b"")
    with pytest.raises(ConfigError, match="is not a directory"):
        check_private_dir(file)


@pytest.mark.parametrize("mode", [0o600, 0o644])
def test_write_atomic_sets_mode_and_replaces(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(b"old")
    path.chmod(0o666)
    old_umask = os.umask(0o077)
    try:
        write_atomic(path, b"new", mode=mode)
    finally:
        os.umask(old_umask)
    assert path.read_bytes() == b"new"
    assert _mode(path) == mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.pem"]
