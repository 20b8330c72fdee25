"""The SDK's workspace helpers: `open_in_workspace` follows no link, `resolve_in_workspace`
checks a path once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from photon.errors import TaskFailed
from photon.model import FailureClass
from photon.plugins import open_in_workspace, resolve_in_workspace


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "sub").mkdir(parents=True)
    (root / "sub/a.txt").write_text("inside")
    (tmp_path / "outside.txt").write_text("outside")
    return root


def read(fd: int) -> str:
    with os.fdopen(fd) as f:
        return f.read()


def test_opens_relative_and_absolute_paths_inside(workspace: Path) -> None:
    assert read(open_in_workspace(workspace, "sub/a.txt", os.O_RDONLY)) == "inside"
    assert read(open_in_workspace(workspace, f"{workspace}/sub/../sub/a.txt", os.O_RDONLY)) == (
        "inside"
    )


def test_the_descriptor_does_not_leak_into_programs(workspace: Path) -> None:
    fd = open_in_workspace(workspace, "sub/a.txt", os.O_RDONLY)
    try:
        assert not os.get_inheritable(fd)
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("setup", "path", "message"),
    [
        ("", "../outside.txt", "input 'file' (../outside.txt) is outside the workspace"),
        ("", "/etc/passwd", "input 'file' (/etc/passwd) is outside the workspace"),
        ("", "a\x00b", "input 'file' contains a NUL byte"),
        ("dirlink", "dirlink/a.txt", "input 'file' (dirlink/a.txt): dirlink is a symbolic link"),
        ("filelink", "filelink", "input 'file' (filelink): filelink is a symbolic link"),
        ("inner", "sub/inner/x", "input 'file' (sub/inner/x): sub/inner is a symbolic link"),
    ],
)
def test_refuses_what_leaves_or_meets_a_link(
    workspace: Path, setup: str, path: str, message: str
) -> None:
    if setup == "dirlink":
        (workspace / "dirlink").symlink_to(workspace / "sub")  # inside, refused all the same
    elif setup == "filelink":
        (workspace / "filelink").symlink_to(workspace.parent / "outside.txt")
    elif setup == "inner":
        (workspace / "sub/inner").symlink_to(workspace.parent)
    with pytest.raises(TaskFailed) as info:
        open_in_workspace(workspace, path, os.O_WRONLY | os.O_CREAT, field="file")
    assert info.value.failure_class is FailureClass.INVALID_INPUT
    assert str(info.value).startswith(message)
    assert (workspace.parent / "outside.txt").read_text() == "outside"
    assert sorted(p.name for p in workspace.parent.iterdir()) == ["outside.txt", "ws"]


def test_make_dirs_creates_the_way(workspace: Path) -> None:
    with pytest.raises(FileNotFoundError) as missing:
        open_in_workspace(workspace, "x/y/z.txt", os.O_WRONLY | os.O_CREAT)
    assert missing.value.filename == "x"
    fd = open_in_workspace(workspace, "x/y/z.txt", os.O_WRONLY | os.O_CREAT, make_dirs=True)
    os.close(fd)
    assert (workspace / "x/y/z.txt").is_file()


def test_a_file_on_the_way_is_not_a_directory(workspace: Path) -> None:
    with pytest.raises(NotADirectoryError) as info:
        open_in_workspace(workspace, "sub/a.txt/b", os.O_RDONLY)
    assert info.value.filename == "sub/a.txt"


def test_resolve_in_workspace_still_follows_links_inside(workspace: Path) -> None:
    # For a path handed to another program: resolved once, links inside allowed.
    (workspace / "alias").symlink_to(workspace / "sub")
    assert resolve_in_workspace(workspace, "alias") == (workspace / "sub").resolve()
    (workspace / "away").symlink_to(workspace.parent)
    with pytest.raises(TaskFailed, match="is outside the workspace"):
        resolve_in_workspace(workspace, "away")
