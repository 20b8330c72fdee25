"""The `files` built-in: read, write, delete and list, never outside the workspace."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from photon.errors import TaskFailed
from photon.model import FailureClass
from photon.plugins.builtin import files
from photon.plugins.builtin.files import MAX_LIST_ENTRIES, MAX_READ_BYTES, FilesPlugin
from photon.plugins.testing import FakeTaskContext


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the workspace, with a file the tests must never touch."""
    other = tmp_path / "outside"
    other.mkdir()
    (other / "secret.txt").write_text("top secret")
    return other


async def run(workspace: Path, action: str, **inputs: Any) -> Mapping[str, Any]:
    return await FilesPlugin().run(FakeTaskContext(action=action, inputs=inputs, workdir=workspace))


async def fails(workspace: Path, action: str, **inputs: Any) -> TaskFailed:
    with pytest.raises(TaskFailed) as info:
        await run(workspace, action, **inputs)
    return info.value


# --- confinement, for every action --------------------------------------------------------

ESCAPES = {
    "read": {},
    "write": {"content": "pwned"},
    "delete": {"recursive": True},
    "list": {"recursive": True},
}


@pytest.mark.parametrize("action", sorted(ESCAPES))
@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink", "symlinked-dir"])
async def test_paths_outside_the_workspace_are_refused(
    workspace: Path, outside: Path, action: str, how: str
) -> None:
    target = {"read": "secret.txt", "write": "secret.txt", "delete": "secret.txt", "list": "."}
    inside_name = target[action]
    if how == "dotdot":
        path = f"../outside/{inside_name}"
    elif how == "absolute":
        path = str(outside / inside_name)
    elif how == "symlink":
        (workspace / "link").symlink_to(outside / inside_name)
        path = "link"
    else:
        (workspace / "linkdir").symlink_to(outside)
        path = f"linkdir/{inside_name}"
    failure = await fails(workspace, action, path=path, **ESCAPES[action])
    assert failure.failure_class is FailureClass.INVALID_INPUT
    assert str(failure).startswith("input 'path' (")
    assert "is outside the workspace" in str(failure)
    assert (outside / "secret.txt").read_text() == "top secret"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


async def test_an_absolute_path_inside_the_workspace_is_fine(workspace: Path) -> None:
    (workspace / "a.txt").write_text("hi")
    out = await run(workspace, "read", path=str(workspace / "a.txt"))
    assert out["path"] == "a.txt"


async def test_dotdot_that_stays_inside_is_fine(workspace: Path) -> None:
    (workspace / "sub").mkdir()
    (workspace / "a.txt").write_text("hi")
    assert (await run(workspace, "read", path="sub/../a.txt"))["content"] == "hi"


async def test_a_symlink_inside_pointing_inside_is_followed(workspace: Path) -> None:
    (workspace / "real.txt").write_text("real")
    (workspace / "alias.txt").symlink_to(workspace / "real.txt")
    assert await run(workspace, "read", path="alias.txt") == {
        "path": "real.txt",
        "content": "real",
        "size": 4,
    }


# --- read ------------------------------------------------------------------------------------


async def test_read_returns_text_and_size(workspace: Path) -> None:
    (workspace / "notes.md").write_bytes("héllo\n".encode())
    ctx = FakeTaskContext(action="read", inputs={"path": "notes.md"}, workdir=workspace)
    out = await FilesPlugin().run(ctx)
    assert out == {"path": "notes.md", "content": "héllo\n", "size": 7}
    assert ctx.messages() == ["files read notes.md"]


async def test_read_replaces_invalid_utf8(workspace: Path) -> None:
    (workspace / "bin").write_bytes(b"ok\xff\xfe")
    out = await run(workspace, "read", path="bin")
    assert out["content"] == "ok\ufffd\ufffd"
    assert out["size"] == 4


async def test_read_refuses_files_over_4_mib(workspace: Path) -> None:
    with (workspace / "big").open("wb") as f:
        f.truncate(MAX_READ_BYTES + 1)
    failure = await fails(workspace, "read", path="big")
    assert failure.failure_class is FailureClass.INVALID_INPUT
    assert "the limit is 4194304 (4 MiB)" in str(failure)


async def test_read_exactly_4_mib_is_allowed(workspace: Path) -> None:
    (workspace / "edge").write_bytes(b"a" * MAX_READ_BYTES)
    assert (await run(workspace, "read", path="edge"))["size"] == MAX_READ_BYTES


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "files read: missing does not exist"),
        ("dir", "files read: dir is not a regular file"),
        ("fifo", "files read: fifo is not a regular file"),
    ],
)
async def test_read_refuses_what_is_not_a_file(workspace: Path, setup: str, message: str) -> None:
    if setup == "dir":
        (workspace / "dir").mkdir()
    elif setup == "fifo":
        os.mkfifo(workspace / "fifo")
    failure = await fails(workspace, "read", path=setup)
    assert failure.failure_class is FailureClass.INVALID_INPUT
    assert str(failure) == message


# --- write -----------------------------------------------------------------------------------


async def test_write_creates_and_replaces(workspace: Path) -> None:
    assert await run(workspace, "write", path="a.txt", content="one") == {
        "path": "a.txt",
        "size": 3,
    }
    assert await run(workspace, "write", path="a.txt", content="three") == {
        "path": "a.txt",
        "size": 5,
    }
    assert (workspace / "a.txt").read_text() == "three"
    assert [p.name for p in workspace.iterdir()] == ["a.txt"]  # no temporary file left


async def test_write_keeps_the_mode_of_an_existing_file(workspace: Path) -> None:
    script = workspace / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o750)
    await run(workspace, "write", path="run.sh", content="#!/bin/sh\necho hi\n")
    assert script.stat().st_mode & 0o777 == 0o750


async def test_write_is_atomic_replacing_the_inode(workspace: Path) -> None:
    target = workspace / "a.txt"
    target.write_text("old")
    before = target.stat().st_ino
    await run(workspace, "write", path="a.txt", content="new")
    assert target.stat().st_ino != before  # renamed over, not rewritten in place


async def test_write_appends(workspace: Path) -> None:
    await run(workspace, "write", path="log.txt", content="a\n", append=True)
    out = await run(workspace, "write", path="log.txt", content="b\n", append=True)
    assert out == {"path": "log.txt", "size": 4}
    assert (workspace / "log.txt").read_text() == "a\nb\n"


async def test_write_needs_make_dirs_for_a_new_directory(workspace: Path) -> None:
    failure = await fails(workspace, "write", path="x/y/z.txt", content="")
    assert failure.failure_class is FailureClass.INVALID_INPUT
    assert str(failure) == (
        "files write: directory x/y does not exist (set make_dirs: true to create it)"
    )
    out = await run(workspace, "write", path="x/y/z.txt", content="deep", make_dirs=True)
    assert out == {"path": "x/y/z.txt", "size": 4}
    assert (workspace / "x/y/z.txt").read_text() == "deep"


async def test_write_refuses_a_directory(workspace: Path) -> None:
    (workspace / "d").mkdir()
    for path in ("d", "."):
        failure = await fails(workspace, "write", path=path, content="x")
        assert failure.failure_class is FailureClass.INVALID_INPUT
        assert "is a directory" in str(failure)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"path": "a", "content": 3}, "input 'content' must be a string"),
        ({"path": "a"}, "input 'content' must be a string"),
        ({"path": "a", "content": "", "append": "yes"}, "input 'append' must be true or false"),
        ({"path": "a", "content": "", "make_dirs": 1}, "input 'make_dirs' must be true or false"),
        ({"path": "", "content": ""}, "input 'path' must be a non-empty string"),
        ({"path": 5, "content": ""}, "input 'path' must be a non-empty string"),
        ({"path": "a\x00b", "content": ""}, "input 'path' contains a NUL byte"),
    ],
)
async def test_write_rejects_bad_inputs(
    workspace: Path, inputs: dict[str, Any], message: str
) -> None:
    failure = await fails(workspace, "write", **inputs)
    assert failure.failure_class is FailureClass.INVALID_INPUT
    assert str(failure) == message


async def test_os_errors_are_tool_errors(workspace: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root ignores file permissions")
    locked = workspace / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        failure = await fails(workspace, "write", path="locked/a.txt", content="x")
    finally:
        locked.chmod(0o700)
    assert failure.failure_class is FailureClass.TOOL_ERROR
    assert str(failure) == "files write locked/a.txt: Permission denied"


async def test_write_over_a_file_used_as_directory_is_a_tool_error(workspace: Path) -> None:
    (workspace / "plain").write_text("")
    failure = await fails(workspace, "write", path="plain/a.txt", content="x", make_dirs=True)
    assert failure.failure_class is FailureClass.TOOL_ERROR
    assert str(failure) == "files write plain/a.txt: File exists"


# --- delete ----------------------------------------------------------------------------------


async def test_delete_a_file_then_nothing(workspace: Path) -> None:
    (workspace / "a.txt").write_text("x")
    assert await run(workspace, "delete", path="a.txt") == {"path": "a.txt", "deleted": True}
    assert not (workspace / "a.txt").exists()
    assert await run(workspace, "delete", path="a.txt") == {"path": "a.txt", "deleted": False}


async def test_delete_a_directory_needs_recursive(workspace: Path) -> None:
    (workspace / "d/e").mkdir(parents=True)
    (workspace / "d/e/f.txt").write_text("x")
    failure = await fails(workspace, "delete", path="d")
    assert failure.failure_class is FailureClass.INVALID_INPUT
    assert str(failure) == "files delete: d is a directory (set recursive: true)"
    assert (workspace / "d/e/f.txt").exists()
    assert await run(workspace, "delete", path="d", recursive=True) == {
        "path": "d",
        "deleted": True,
    }
    assert not (workspace / "d").exists()


async def test_delete_removes_a_symlink_not_its_target(workspace: Path) -> None:
    (workspace / "real.txt").write_text("keep me")
    (workspace / "alias.txt").symlink_to(workspace / "real.txt")
    assert await run(workspace, "delete", path="alias.txt") == {
        "path": "alias.txt",
        "deleted": True,
    }
    assert not (workspace / "alias.txt").is_symlink()
    assert (workspace / "real.txt").read_text() == "keep me"


async def test_delete_never_removes_the_workspace_root(workspace: Path) -> None:
    (workspace / "a.txt").write_text("x")
    for path in (".", str(workspace), "sub/..", ""):
        if path == "sub/..":
            (workspace / "sub").mkdir(exist_ok=True)
        failure = await fails(workspace, "delete", path=path, recursive=True)
        assert failure.failure_class is FailureClass.INVALID_INPUT
    assert (workspace / "a.txt").exists()


async def test_delete_through_a_symlinked_dir_outside_leaves_the_target(
    workspace: Path, outside: Path
) -> None:
    (workspace / "linkdir").symlink_to(outside)
    failure = await fails(workspace, "delete", path="linkdir/secret.txt")
    assert failure.failure_class is FailureClass.INVALID_INPUT
    assert (outside / "secret.txt").exists()


# --- list ------------------------------------------------------------------------------------


async def test_list_is_the_default_action_and_sorted(workspace: Path) -> None:
    (workspace / "b.txt").write_text("bb")
    (workspace / "a").mkdir()
    (workspace / "a/inner.txt").write_text("i")
    (workspace / "c").symlink_to(workspace / "b.txt")
    out = await run(workspace, "")
    assert out == {
        "path": ".",
        "entries": [
            {"path": "a", "type": "dir", "size": None},
            {"path": "b.txt", "type": "file", "size": 2},
            {"path": "c", "type": "symlink", "size": None},
        ],
        "truncated": False,
    }


async def test_list_recursive_depth_first_without_following_links(
    workspace: Path, outside: Path
) -> None:
    (workspace / "a/b").mkdir(parents=True)
    (workspace / "a/b/deep.txt").write_text("d")
    (workspace / "a/z.txt").write_text("z")
    (workspace / "out").symlink_to(outside)  # listed, never entered
    out = await run(workspace, "list", path=".", recursive=True)
    assert [(e["path"], e["type"]) for e in out["entries"]] == [
        ("a", "dir"),
        ("a/b", "dir"),
        ("a/b/deep.txt", "file"),
        ("a/z.txt", "file"),
        ("out", "symlink"),
    ]


async def test_list_a_subdirectory(workspace: Path) -> None:
    (workspace / "a").mkdir()
    (workspace / "a/x").write_text("")
    out = await run(workspace, "list", path="a")
    assert out["path"] == "a"
    assert out["entries"] == [{"path": "a/x", "type": "file", "size": 0}]


async def test_list_stops_at_the_cap(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert MAX_LIST_ENTRIES == 10_000
    monkeypatch.setattr(files, "MAX_LIST_ENTRIES", 20)  # 10,000 files take long on some disks
    for i in range(15):
        (workspace / f"d{i:02d}").mkdir()
        (workspace / f"d{i:02d}" / "f").touch()
    out = await run(workspace, "list", recursive=True)
    assert out["truncated"] is True
    assert len(out["entries"]) == 20
    assert out["entries"][:3] == [
        {"path": "d00", "type": "dir", "size": None},
        {"path": "d00/f", "type": "file", "size": 0},
        {"path": "d01", "type": "dir", "size": None},
    ]
    exact = await run(workspace, "list")  # 15 entries: under the cap
    assert exact["truncated"] is False
    assert len(exact["entries"]) == 15


async def test_list_refuses_missing_and_files(workspace: Path) -> None:
    (workspace / "f").write_text("")
    assert str(await fails(workspace, "list", path="nope")) == "files list: nope does not exist"
    assert str(await fails(workspace, "list", path="f")) == "files list: f is not a directory"


# --- the rest ----------------------------------------------------------------------------


async def test_unknown_action_is_invalid_input(workspace: Path) -> None:
    failure = await fails(workspace, "move", path="a")
    assert failure.failure_class is FailureClass.INVALID_INPUT
    assert str(failure) == "files: unknown action 'move' (read, write, delete, list)"


async def test_cancelled_before_start(workspace: Path) -> None:
    ctx = FakeTaskContext(action="write", inputs={"path": "a", "content": "x"}, workdir=workspace)
    ctx.cancel()
    with pytest.raises(TaskFailed) as info:
        await FilesPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.CANCELLED
    assert not (workspace / "a").exists()


def test_declares_its_actions_and_schemas() -> None:
    plugin = FilesPlugin()
    assert [a.name for a in plugin.actions] == ["read", "write", "delete", "list"]
    assert plugin.default_action == "list"
    assert plugin.enabled_by_default
    schemas = {a.name: a.input_schema for a in plugin.actions}
    assert schemas["write"]["required"] == ["path", "content"]
    assert "required" not in schemas["list"]
