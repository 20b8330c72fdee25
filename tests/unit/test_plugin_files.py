"""The `files` built-in: read, write, delete and list, never outside the workspace."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import sys
import threading
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
    if (action, how) == ("delete", "symlink"):
        # The path names the link itself, which is inside: it goes, not what it points to.
        assert await run(workspace, action, path=path, **ESCAPES[action]) == {
            "path": "link",
            "deleted": True,
        }
        assert (outside / "secret.txt").read_text() == "top secret"
        return
    failure = await fails(workspace, action, path=path, **ESCAPES[action])
    assert failure.failure_class is FailureClass.INVALID_INPUT
    if how in {"dotdot", "absolute"}:
        assert str(failure) == f"input 'path' ({path}) is outside the workspace {workspace}"
    else:
        link = path.split("/")[0]
        assert str(failure) == (
            f"input 'path' ({path}): {link} is a symbolic link, and paths through links are refused"
        )
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


@pytest.mark.parametrize("action", sorted(ESCAPES))
async def test_a_symlink_pointing_inside_is_refused_too(workspace: Path, action: str) -> None:
    # Following a link safely would mean resolving it, and a resolved path can be raced.
    (workspace / "real").mkdir()
    (workspace / "real/a.txt").write_text("real")
    (workspace / "alias").symlink_to(workspace / "real")
    (workspace / "alias.txt").symlink_to(workspace / "real/a.txt")
    for path, link in [("alias/a.txt", "alias"), ("alias", "alias"), ("alias.txt", "alias.txt")]:
        if action == "delete" and path == link:
            continue  # deleting a link removes the link: see test_delete_removes_a_symlink...
        if action == "write" and path == "alias":
            continue
        failure = await fails(workspace, action, path=path, **ESCAPES[action])
        assert failure.failure_class is FailureClass.INVALID_INPUT
        assert f": {link} is a symbolic link" in str(failure)
    assert (workspace / "real/a.txt").read_text() == "real"


async def test_write_over_a_symlink_is_refused_not_replaced(workspace: Path) -> None:
    (workspace / "real.txt").write_text("real")
    (workspace / "alias.txt").symlink_to("real.txt")
    for append in (False, True):
        failure = await fails(workspace, "write", path="alias.txt", content="x", append=append)
        assert failure.failure_class is FailureClass.INVALID_INPUT
        assert "alias.txt is a symbolic link" in str(failure)
    assert (workspace / "alias.txt").is_symlink()
    assert (workspace / "real.txt").read_text() == "real"


async def test_a_path_is_worked_out_from_its_names(workspace: Path) -> None:
    # `x/..` is the root even where x is a link or missing: it is never looked up.
    (workspace / "a.txt").write_text("hi")
    (workspace / "link").symlink_to("/")
    for path in ("link/../a.txt", "missing/../a.txt", "./a.txt", ".//a.txt", f"{workspace}/a.txt"):
        out = await run(workspace, "read", path=path)
        assert (out["path"], out["content"]) == ("a.txt", "hi"), path


async def test_the_root_may_be_named_through_a_link(tmp_path: Path, workspace: Path) -> None:
    # The workspace root comes from the agent's config: a link there is the owner's choice.
    (workspace / "a.txt").write_text("hi")
    alias = tmp_path / "ws-alias"
    alias.symlink_to(workspace)
    ctx = FakeTaskContext(action="read", inputs={"path": f"{alias}/a.txt"}, workdir=alias)
    assert (await FilesPlugin().run(ctx))["content"] == "hi"
    assert (await run(workspace, "read", path=f"{workspace}/a.txt"))["path"] == "a.txt"


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


async def test_write_through_a_file_used_as_directory_is_invalid(workspace: Path) -> None:
    (workspace / "plain").write_text("")
    for make_dirs in (False, True):
        failure = await fails(
            workspace, "write", path="plain/a.txt", content="x", make_dirs=make_dirs
        )
        assert failure.failure_class is FailureClass.INVALID_INPUT
        assert str(failure) == "files write: plain is not a directory"


async def test_write_and_read_refuse_a_fifo_without_blocking(workspace: Path) -> None:
    os.mkfifo(workspace / "fifo")
    # Opened for writing with no reader, or for reading with no writer, a FIFO would block the
    # worker thread for good.
    failure = await fails(workspace, "write", path="fifo", content="x", append=True)
    assert failure.failure_class is FailureClass.INVALID_INPUT
    assert str(failure) == "files write: fifo is not a regular file"
    failure = await fails(workspace, "read", path="fifo")
    assert str(failure) == "files read: fifo is not a regular file"


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


async def test_delete_recursive_removes_links_not_their_targets(
    workspace: Path, outside: Path
) -> None:
    (workspace / "d/e").mkdir(parents=True)
    (workspace / "d/e/f.txt").write_text("x")
    (workspace / "d/out").symlink_to(outside)
    (workspace / "d/e/secret").symlink_to(outside / "secret.txt")
    os.mkfifo(workspace / "d/e/fifo")
    assert await run(workspace, "delete", path="d", recursive=True) == {
        "path": "d",
        "deleted": True,
    }
    assert list(workspace.iterdir()) == []
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "top secret"


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


# --- races: a directory swapped for a symlink while the tool works ---------------------------


class Swapper(threading.Thread):
    """Keeps exchanging `workspace/d` (a real directory) with a symlink to `outside`, atomically
    (renameat2 RENAME_EXCHANGE), so `d` is always there: half of the time it leads outside."""

    def __init__(self, workspace: Path, outside: Path) -> None:
        super().__init__(daemon=True)
        self._d = os.fsencode(workspace / "d")
        self._link = os.fsencode(workspace / "d-link")
        os.symlink(outside, self._link)
        self._halt = threading.Event()
        self.swaps = 0

    def run(self) -> None:
        while not self._halt.is_set():
            _exchange(self._d, self._link)
            _exchange(self._d, self._link)
            self.swaps += 1

    def __enter__(self) -> Swapper:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._halt.set()
        self.join(10)
        assert not self.is_alive()


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: bytes, b: bytes) -> None:
    if _LIBC.renameat2(_AT_FDCWD, a, _AT_FDCWD, b, _RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    return libc if hasattr(libc, "renameat2") else None


_LIBC = _libc()
needs_exchange = pytest.mark.skipif(_LIBC is None, reason="needs Linux renameat2")
RACE_TASKS = 400


def outside_untouched(outside: Path, names: set[str]) -> None:
    assert sorted(p.name for p in outside.iterdir()) == sorted({"secret.txt", *names})
    assert (outside / "secret.txt").read_text() == "top secret"
    for name in names:
        assert (outside / name).read_text() == "outside"


async def race(workspace: Path, tasks: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Run the tasks while `d` is being swapped; their outputs, or the TaskFailed they raised."""
    with Swapper(workspace, workspace.parent / "outside") as swapper:
        results = await asyncio.gather(
            *(run(workspace, action, **inputs) for action, inputs in tasks),
            return_exceptions=True,
        )
    assert swapper.swaps > 10
    assert any(isinstance(r, TaskFailed) for r in results), "no task met the link"
    return results


def only_refusals(results: list[Any]) -> None:
    """A task that lost the race was refused for meeting the link, as invalid_input."""
    for result in results:
        if isinstance(result, BaseException):
            assert isinstance(result, TaskFailed), result
            assert result.failure_class is FailureClass.INVALID_INPUT, result
            assert "is a symbolic link" in str(result), result


@needs_exchange
@pytest.mark.parametrize("how", ["replace", "append", "make_dirs"])
async def test_racing_writes_never_land_outside(workspace: Path, outside: Path, how: str) -> None:
    def inputs(i: int) -> dict[str, Any]:
        if how == "make_dirs":
            return {"path": f"d/sub{i % 7}/f{i}", "content": "x", "make_dirs": True}
        return {"path": f"d/f{i}", "content": "x", "append": how == "append"}

    (workspace / "d").mkdir()
    results = await race(workspace, [("write", inputs(i)) for i in range(RACE_TASKS)])
    outside_untouched(outside, set())
    only_refusals(results)


@needs_exchange
async def test_racing_reads_never_read_outside(workspace: Path, outside: Path) -> None:
    (workspace / "d").mkdir()
    (workspace / "d/secret.txt").write_text("inside")
    results = await race(workspace, [("read", {"path": "d/secret.txt"})] * RACE_TASKS)
    assert {r["content"] for r in results if not isinstance(r, BaseException)} <= {"inside"}
    only_refusals(results)


@needs_exchange
async def test_racing_deletes_never_delete_outside(workspace: Path, outside: Path) -> None:
    names = {f"victim{i}" for i in range(RACE_TASKS)}
    for name in names:
        (outside / name).write_text("outside")
    (workspace / "d").mkdir()
    for name in names:
        (workspace / "d" / name).write_text("inside")
    results = await race(workspace, [("delete", {"path": f"d/{name}"}) for name in sorted(names)])
    outside_untouched(outside, names)
    only_refusals(results)


@needs_exchange
async def test_racing_lists_never_list_outside(workspace: Path, outside: Path) -> None:
    (workspace / "d").mkdir()
    (workspace / "d/inside.txt").write_text("")
    results = await race(workspace, [("list", {"path": p, "recursive": True}) for p in "d." * 100])
    for result in results:
        if not isinstance(result, BaseException):
            assert "secret.txt" not in {Path(e["path"]).name for e in result["entries"]}
    only_refusals(results)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
async def test_no_descriptor_is_left_open(workspace: Path, outside: Path) -> None:
    (workspace / "d/e").mkdir(parents=True)
    (workspace / "d/e/f.txt").write_text("x")
    (workspace / "link").symlink_to(outside)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("read", {"path": "d/e/f.txt"}),
        ("read", {"path": "link/secret.txt"}),
        ("read", {"path": "d/missing"}),
        ("write", {"path": "d/e/g.txt", "content": "y"}),
        ("write", {"path": "d/e/g.txt", "content": "y", "append": True}),
        ("write", {"path": "link/x", "content": "y"}),
        ("write", {"path": "d/e", "content": "y"}),
        ("list", {"path": ".", "recursive": True}),
        ("list", {"path": "link"}),
        ("delete", {"path": "d/e", "recursive": False}),
        ("delete", {"path": "link/secret.txt"}),
        ("delete", {"path": "d", "recursive": True}),
    ]
    await run(workspace, "list")  # whatever the first run opens for good (the thread pool)
    before = len(os.listdir("/proc/self/fd"))
    for action, inputs in calls * 3:
        with contextlib.suppress(TaskFailed):
            await run(workspace, action, **inputs)
    assert len(os.listdir("/proc/self/fd")) == before
