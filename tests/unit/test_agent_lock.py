"""One agent per data dir: the lock file in it, held for the daemon's life."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from photon.agent import AgentPaths
from photon.agent.lifecycle._lock import hold_data_dir
from photon.errors import ConfigError


def test_the_data_dir_is_held_once_and_names_its_holder(tmp_path: Path) -> None:
    paths = AgentPaths(root=tmp_path)
    with hold_data_dir(paths):
        assert paths.lock.read_text() == f"{os.getpid()}\n"
        assert paths.lock.stat().st_mode & 0o777 == 0o600
        with pytest.raises(ConfigError) as refused, hold_data_dir(paths):
            pass
        assert str(refused.value) == (
            f"data dir {tmp_path} is in use by another photon-agent (pid {os.getpid()});"
            " stop it first, or run this one with its own --data-dir"
        )
        assert paths.lock.read_text() == f"{os.getpid()}\n", "the refused one wrote nothing"
    assert paths.lock.read_text() == ""
    with hold_data_dir(paths):
        pass


def test_a_holder_that_wrote_no_pid_yet_is_still_refused(tmp_path: Path) -> None:
    paths = AgentPaths(root=tmp_path)
    with hold_data_dir(paths):
        paths.lock.write_text("")
        with pytest.raises(ConfigError, match=r"in use by another photon-agent; stop it first"):
            with hold_data_dir(paths):
                pass


def test_a_data_dir_that_cannot_hold_a_lock_is_one_line(tmp_path: Path) -> None:
    paths = AgentPaths(root=tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"^cannot lock data dir .*missing: No such file"):
        with hold_data_dir(paths):
            pass
