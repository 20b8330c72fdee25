"""The plugin SDK: contract helpers, discovery, the process runner and the echo/shell built-ins."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.metadata
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from photon import __version__
from photon.errors import TaskFailed
from photon.model import FailureClass
from photon.plugins import (
    ENTRY_POINT_GROUP,
    PLUGIN_API_VERSION,
    Plugin,
    SimpleTaskContext,
    TaskContext,
    load_plugins,
    run_plugin,
    run_process,
)
from photon.plugins.builtin.echo import EchoPlugin
from photon.plugins.builtin.shell import ShellPlugin

# tests/unit has no __init__.py today; keep working if it gets one.
_FAKE_MODULE = f"{__package__}._fake_plugins" if __package__ else "_fake_plugins"

Event = tuple[str, str, dict[str, Any]]


def make_ctx(
    tmp_path: Path,
    inputs: Mapping[str, Any],
    *,
    action: str = "",
    secrets: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    deadline: float | None = None,
) -> tuple[SimpleTaskContext, list[Event]]:
    events: list[Event] = []
    ctx = SimpleTaskContext(
        task_id="t1",
        action=action,
        inputs=inputs,
        workdir=tmp_path,
        secrets=secrets or {},
        env=env or {},
        deadline=deadline,
        on_event=lambda kind, message, data: events.append((kind, message, data)),
    )
    return ctx, events


def alive(pid: int) -> bool:
    """True if `pid` runs; a zombie (dead, not yet reaped by its new parent) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


async def wait_all_gone(pids: list[int], within: float) -> None:
    end = time.monotonic() + within
    while survivors := [pid for pid in pids if alive(pid)]:
        assert time.monotonic() < end, f"still alive after {within}s: {survivors}"
        await asyncio.sleep(0.05)


# --- SimpleTaskContext --------------------------------------------------------------------


def test_context_conforms_and_starts_uncancelled(tmp_path: Path) -> None:
    ctx: TaskContext
    ctx, _ = make_ctx(tmp_path, {"a": 1}, action="echo")
    assert ctx.action == "echo"
    assert ctx.inputs == {"a": 1}
    assert not ctx.cancelled.is_set()


def test_context_masks_secrets_in_message_and_data(tmp_path: Path) -> None:
    ctx, events = make_ctx(
        tmp_path, {}, secrets={"TOKEN": "s3cret", "LONG": "s3cret-and-more", "EMPTY": ""}
    )
    ctx.emit(
        "tool_call",
        "calling with s3cret and s3cret-and-more",
        args=["--token=s3cret"],
        nested={"header": "Bearer s3cret"},
        count=3,
    )
    assert events == [
        (
            "tool_call",
            "calling with *** and ***",
            {"args": ["--token=***"], "nested": {"header": "Bearer ***"}, "count": 3},
        )
    ]
    assert "s3cret" not in repr(ctx)


def test_context_without_secrets_passes_events_through(tmp_path: Path) -> None:
    ctx, events = make_ctx(tmp_path, {})
    ctx.emit("log", "hello", stream="stdout")
    ctx.emit("status")
    assert events == [("log", "hello", {"stream": "stdout"}), ("status", "", {})]


# --- echo -----------------------------------------------------------------------------------


def test_echo_declares_itself() -> None:
    plugin: Plugin = EchoPlugin()
    assert plugin.name == "echo"
    assert plugin.version == __version__
    assert plugin.api_version == PLUGIN_API_VERSION
    assert [a.name for a in plugin.actions] == ["echo"]
    assert plugin.default_action == "echo"
    assert plugin.enabled_by_default


async def test_echo_detects_available() -> None:
    assert (await EchoPlugin().detect()).available


async def test_echo_returns_inputs_and_logs_when_asked(tmp_path: Path) -> None:
    inputs = {"a": 1, "b": ["x"]}
    ctx, events = make_ctx(tmp_path, inputs, action="echo")
    assert await EchoPlugin().run(ctx) == inputs
    assert events == []
    ctx, events = make_ctx(tmp_path, {"log": "hello"}, action="echo")
    assert await EchoPlugin().run(ctx) == {"log": "hello"}
    assert events == [("log", "hello", {})]


async def test_echo_fail_defaults_to_tool_error(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, {"fail": "boom"})
    with pytest.raises(TaskFailed, match=r"^boom$") as info:
        await EchoPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.TOOL_ERROR


async def test_echo_fail_class_picks_the_class(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, {"fail": "over quota", "fail_class": "quota"})
    with pytest.raises(TaskFailed) as info:
        await EchoPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.QUOTA


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"fail": "x", "fail_class": "nonsense"}, "fail_class"),
        ({"sleep": "1"}, "sleep"),
        ({"sleep": -1}, "sleep"),
        ({"sleep": True}, "sleep"),
        ({"sleep": float("nan")}, "sleep"),
        ({"fail": 3}, "fail"),
    ],
)
async def test_echo_rejects_bad_inputs(tmp_path: Path, inputs: dict[str, Any], field: str) -> None:
    ctx, _ = make_ctx(tmp_path, inputs)
    with pytest.raises(TaskFailed, match=f"'{field}'") as info:
        await EchoPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.INVALID_INPUT


async def test_echo_sleeps_then_returns(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, {"sleep": 0.05})
    start = time.monotonic()
    assert await EchoPlugin().run(ctx) == {"sleep": 0.05}
    assert time.monotonic() - start >= 0.05


async def test_echo_sleep_ends_early_when_cancelled(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, {"sleep": 60})
    asyncio.get_running_loop().call_later(0.05, ctx.cancelled.set)
    start = time.monotonic()
    with pytest.raises(TaskFailed) as info:
        await EchoPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.CANCELLED
    assert time.monotonic() - start < 10


async def test_echo_sleep_ends_at_the_deadline(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, {"sleep": 60}, deadline=time.monotonic() + 0.05)
    with pytest.raises(TaskFailed) as info:
        await EchoPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.TIMEOUT


# --- shell ----------------------------------------------------------------------------------


def test_shell_is_off_by_default() -> None:
    plugin: Plugin = ShellPlugin()
    assert plugin.name == "shell"
    assert not plugin.enabled_by_default
    assert plugin.default_action == "run"


async def test_shell_runs_and_streams_lines(tmp_path: Path) -> None:
    ctx, events = make_ctx(tmp_path, {"argv": ["echo", "hi"]}, action="run")
    outputs = await ShellPlugin().run(ctx)
    assert outputs == {"exit_code": 0, "stdout": "hi\n", "stderr": ""}
    assert events == [("log", "hi", {"stream": "stdout"})]


async def test_shell_runs_in_workdir_with_extra_env(tmp_path: Path) -> None:
    argv = ["sh", "-c", 'pwd; echo "$PHOTON_TEST_VAR" >&2']
    ctx, events = make_ctx(tmp_path, {"argv": argv, "env": {"PHOTON_TEST_VAR": "v"}})
    outputs = await ShellPlugin().run(ctx)
    assert outputs["stdout"] == f"{tmp_path}\n"
    assert ("log", "v", {"stream": "stderr"}) in events


async def test_shell_gets_the_tasks_env_under_its_env_input(tmp_path: Path) -> None:
    argv = ["sh", "-c", 'echo "$A $B $C" | tr -d "\n" | sha256sum; echo "$A"']
    ctx, events = make_ctx(
        tmp_path,
        {"argv": argv, "env": {"B": "input"}},
        env={"A": "hunter2", "B": "task", "C": "c"},
        secrets={"tok": "hunter2"},
    )
    outputs = await ShellPlugin().run(ctx)
    digest = hashlib.sha256(b"hunter2 input c").hexdigest()
    assert outputs["stdout"] == f"{digest}  -\nhunter2\n"  # the plugin's own outputs, unmasked
    assert events[-1] == ("log", "***", {"stream": "stdout"})
    assert ctx.mask(outputs)["stdout"].endswith("\n***\n")


async def test_shell_nonzero_exit_is_tool_error_with_last_stderr_line(tmp_path: Path) -> None:
    argv = ["sh", "-c", "echo first >&2; echo 'it broke' >&2; exit 3"]
    ctx, _ = make_ctx(tmp_path, {"argv": argv})
    with pytest.raises(TaskFailed, match=r"^exited with 3: it broke$") as info:
        await ShellPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.TOOL_ERROR


async def test_shell_missing_binary_is_tool_missing(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, {"argv": ["photon-no-such-binary-xyz", "--help"]})
    with pytest.raises(TaskFailed, match="photon-no-such-binary-xyz: not found") as info:
        await ShellPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.TOOL_MISSING


@pytest.mark.parametrize("argv", [None, [], "echo hi", ["echo", 1]])
async def test_shell_rejects_bad_argv(tmp_path: Path, argv: object) -> None:
    ctx, _ = make_ctx(tmp_path, {"argv": argv})
    with pytest.raises(TaskFailed, match="input 'argv' must be a non-empty list") as info:
        await ShellPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.INVALID_INPUT


async def test_shell_rejects_bad_env(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, {"argv": ["true"], "env": {"A": 1}})
    with pytest.raises(TaskFailed, match="'env'") as info:
        await ShellPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.INVALID_INPUT


# --- run_process ------------------------------------------------------------------------------


def collect() -> tuple[list[tuple[str, str]], Callable[[str, str], None]]:
    lines: list[tuple[str, str]] = []
    return lines, lambda stream, line: lines.append((stream, line))


async def test_process_tolerates_long_lines_and_bad_utf8(tmp_path: Path) -> None:
    script = (
        "import sys; out = sys.stdout.buffer\n"
        "out.write(b'x' * 200000 + b'\\xff\\n'); out.write('caf\\u00e9\\r\\nno newline'.encode())"
    )
    lines, on_line = collect()
    result = await run_process([sys.executable, "-c", script], cwd=tmp_path, on_line=on_line)
    assert result.exit_code == 0
    assert lines == [
        ("stdout", "x" * 200000 + "\ufffd"),
        ("stdout", "café"),
        ("stdout", "no newline"),
    ]
    assert len(result.stdout_tail) == 64 * 1024
    assert result.stdout_tail.endswith("café\r\nno newline")


async def test_process_deadline_kills_and_times_out(tmp_path: Path) -> None:
    lines, on_line = collect()
    start = time.monotonic()
    with pytest.raises(TaskFailed, match="deadline") as info:
        await run_process(
            ["sh", "-c", "echo $$; exec sleep 100"],
            cwd=tmp_path,
            on_line=on_line,
            deadline=time.monotonic() + 1,
            kill_grace=1,
        )
    assert info.value.failure_class is FailureClass.TIMEOUT
    assert time.monotonic() - start < 10
    [(_, pid)] = lines
    await wait_all_gone([int(pid)], within=5)


async def test_process_already_cancelled_does_not_start(tmp_path: Path) -> None:
    cancelled = asyncio.Event()
    cancelled.set()
    marker = tmp_path / "ran"
    with pytest.raises(TaskFailed) as info:
        await run_process(["touch", str(marker)], cwd=tmp_path, cancelled=cancelled)
    assert info.value.failure_class is FailureClass.CANCELLED
    assert not marker.exists()


# A parent with 20 children, plus a shell whose background sleeps are grandchildren.
_TREE = """
import subprocess, sys, time
kids = [subprocess.Popen(["sleep", "100"]) for _ in range(20)]
sh = subprocess.Popen(["sh", "-c", "sleep 100 & echo $!; sleep 100 & echo $!; wait"],
                      stdout=subprocess.PIPE, text=True)
grandkids = [sh.stdout.readline().strip() for _ in range(2)]
print(" ".join([str(k.pid) for k in kids] + [str(sh.pid)] + grandkids), flush=True)
time.sleep(100)
"""


@pytest.mark.parametrize("how", ["cancelled-event", "task-cancel"])
async def test_process_tree_is_killed_on_cancel(tmp_path: Path, how: str) -> None:
    pids: list[int] = []
    ready = asyncio.Event()

    def on_line(stream: str, line: str) -> None:
        if stream == "stdout":
            pids.extend(int(p) for p in line.split())
            ready.set()

    cancelled = asyncio.Event()
    run = asyncio.create_task(
        run_process(
            [sys.executable, "-c", _TREE],
            cwd=tmp_path,
            on_line=on_line,
            cancelled=cancelled,
            kill_grace=1,
        )
    )
    try:
        async with asyncio.timeout(30):
            await ready.wait()
        assert len(pids) == 23
        assert all(alive(pid) for pid in pids)
        stopped_at = time.monotonic()
        if how == "cancelled-event":
            cancelled.set()
            with pytest.raises(TaskFailed) as info:
                await run
            assert info.value.failure_class is FailureClass.CANCELLED
        else:
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run
        await wait_all_gone(pids, within=5 - (time.monotonic() - stopped_at))
    finally:
        run.cancel()
        for pid in pids:
            if alive(pid):
                os.kill(pid, 9)


async def test_process_leftovers_are_killed_when_the_process_exits(tmp_path: Path) -> None:
    lines, on_line = collect()
    start = time.monotonic()
    # The background sleep keeps stdout open: without the cleanup this would take 100 s.
    result = await run_process(["sh", "-c", "sleep 100 & echo $!"], cwd=tmp_path, on_line=on_line)
    assert result.exit_code == 0
    assert time.monotonic() - start < 10
    [(_, pid)] = lines
    await wait_all_gone([int(pid)], within=5)


async def test_process_escaped_pipe_holder_does_not_hang(tmp_path: Path) -> None:
    script = (
        "import subprocess\n"
        "p = subprocess.Popen(['sleep', '100'], start_new_session=True)\n"
        "print(p.pid, flush=True)"
    )
    lines, on_line = collect()
    try:
        start = time.monotonic()
        result = await run_process([sys.executable, "-c", script], cwd=tmp_path, on_line=on_line)
        assert result.exit_code == 0
        assert time.monotonic() - start < 10
    finally:
        for _, pid in lines:
            os.kill(int(pid), 9)
    assert len(lines) == 1


async def test_process_not_executable_is_tool_missing(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(TaskFailed, match="not executable") as info:
        await run_process([str(script)], cwd=tmp_path)
    assert info.value.failure_class is FailureClass.TOOL_MISSING


async def test_process_missing_workdir_is_not_blamed_on_the_tool(tmp_path: Path) -> None:
    with pytest.raises(TaskFailed, match="working directory") as info:
        await run_process(["true"], cwd=tmp_path / "missing")
    assert info.value.failure_class is FailureClass.TOOL_ERROR


async def test_process_on_line_error_propagates_and_kills(tmp_path: Path) -> None:
    pids: list[int] = []

    def on_line(stream: str, line: str) -> None:
        pids.append(int(line))
        raise ValueError("consumer broke")

    with pytest.raises(ValueError, match="consumer broke"):
        await run_process(["sh", "-c", "echo $$; exec sleep 100"], cwd=tmp_path, on_line=on_line)
    await wait_all_gone(pids, within=5)


# --- discovery --------------------------------------------------------------------------------


def ep(name: str, attr: str, module: str = _FAKE_MODULE) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(
        name=name, value=f"{module}:{attr}", group=ENTRY_POINT_GROUP
    )


def test_load_plugins_keeps_good_ones_and_records_errors(caplog: pytest.LogCaptureFixture) -> None:
    entry_points = [
        ep("good", "GoodPlugin"),
        ep("future", "FutureApiPlugin"),
        ep("raising", "RaisingConstructorPlugin"),
        ep("gone", "Plugin", module="photon_tests_no_such_module"),
        ep("raising-property", "RaisingPropertyPlugin"),
        ep("sync", "SyncRunPlugin"),
        ep("bad-default", "BadDefaultActionPlugin"),
        ep("renamed", "GoodPlugin"),
        ep("dup", "GoodPlugin"),
        ep("dup", "FutureApiPlugin"),
    ]
    with caplog.at_level(logging.WARNING, logger="photon.plugins"):
        loaded = load_plugins(entry_points=entry_points)

    assert list(loaded.plugins) == ["good"]
    assert loaded.plugins["good"].name == "good"
    errors = loaded.errors
    assert set(errors) == {
        "future",
        "raising",
        "raising-property",
        "gone",
        "sync",
        "bad-default",
        "renamed",
        "dup",
    }
    assert errors["future"] == (
        f"plugin 'future' declares API version {PLUGIN_API_VERSION + 1}; "
        f"this agent supports {PLUGIN_API_VERSION}"
    )
    assert errors["raising"] == "plugin 'raising' failed to load: RuntimeError: no config for me"
    assert errors["gone"].startswith("plugin 'gone' failed to load: ModuleNotFoundError: ")
    assert errors["raising-property"] == (
        "plugin 'raising-property' failed to load: RuntimeError: version unknown"
    )
    assert "run must be async" in errors["sync"]
    assert "default action 'missing'" in errors["bad-default"]
    assert "calls itself 'good'" in errors["renamed"]
    assert "more than one entry point" in errors["dup"]
    assert len(caplog.records) == len(errors)


def test_load_plugins_accepts_a_factory() -> None:
    loaded = load_plugins(entry_points=[ep("good", "make_good")])
    assert list(loaded.plugins) == ["good"]
    assert loaded.errors == {}


def test_load_plugins_reads_the_photon_group_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    groups: list[str] = []

    def fake_entry_points(*, group: str) -> list[importlib.metadata.EntryPoint]:
        groups.append(group)
        return [ep("good", "GoodPlugin")]

    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)
    assert list(load_plugins().plugins) == ["good"]
    assert groups == ["photon.plugins"]


# --- run_plugin -------------------------------------------------------------------------------


async def test_run_plugin_returns_outputs(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, {"a": 1})
    assert await run_plugin(EchoPlugin(), ctx) == {"a": 1}


async def test_run_plugin_turns_an_exception_into_tool_error(tmp_path: Path) -> None:
    loaded = load_plugins(entry_points=[ep("exploding", "ExplodingPlugin")])
    ctx, _ = make_ctx(tmp_path, {})
    with pytest.raises(TaskFailed, match=r"^plugin exploding raised RuntimeError: kaboom$") as info:
        await run_plugin(loaded.plugins["exploding"], ctx)
    assert info.value.failure_class is FailureClass.TOOL_ERROR
    assert isinstance(info.value.__cause__, RuntimeError)


async def test_run_plugin_passes_task_failed_through(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, {"fail": "slow down", "fail_class": "quota"})
    with pytest.raises(TaskFailed, match=r"^slow down$") as info:
        await run_plugin(EchoPlugin(), ctx)
    assert info.value.failure_class is FailureClass.QUOTA


@pytest.mark.parametrize("outputs", [["not", "a", "mapping"], {"x": object()}, {"x": float("inf")}])
async def test_run_plugin_rejects_bad_outputs(tmp_path: Path, outputs: object) -> None:
    class BadOutputs(EchoPlugin):
        async def run(self, ctx: TaskContext) -> Mapping[str, Any]:
            return outputs  # type: ignore[return-value]

    ctx, _ = make_ctx(tmp_path, {})
    with pytest.raises(TaskFailed, match=r"^plugin echo returned") as info:
        await run_plugin(BadOutputs(), ctx)
    assert info.value.failure_class is FailureClass.TOOL_ERROR


async def test_run_plugin_lets_cancellation_through(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, {"sleep": 60})
    run = asyncio.create_task(run_plugin(EchoPlugin(), ctx))
    await asyncio.sleep(0.01)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run


async def test_shell_script_needs_the_agent_setting(tmp_path: Path) -> None:
    plugin = ShellPlugin()
    events: list[tuple[str, str, dict[str, Any]]] = []

    def context(settings: dict[str, Any]) -> SimpleTaskContext:
        return SimpleTaskContext(
            task_id="t-script",
            action="script",
            inputs={"script": "echo one && echo two | tr a-z A-Z"},
            workdir=tmp_path,
            settings=settings,
            on_event=lambda kind, message, data: events.append((kind, message, data)),
        )

    with pytest.raises(TaskFailed) as refused:
        await plugin.run(context({}))
    assert refused.value.failure_class is FailureClass.INVALID_INPUT
    assert "script = true" in str(refused.value)

    outputs = await plugin.run(context({"script": True}))
    assert outputs["stdout"] == "one\nTWO\n"
    assert [m for k, m, _ in events if k == "log"] == ["one", "TWO"]


# --- the AI CLI adapters' environment -------------------------------------------------------


def test_cli_adapters_add_the_settings_env_then_the_tasks_env_then_their_secrets(
    tmp_path: Path,
) -> None:
    from photon.plugins.builtin.claude_code import ClaudeCodePlugin

    plugin = ClaudeCodePlugin()
    [(secret, variable)] = list(plugin.secret_env.items())[:1]
    ctx = SimpleTaskContext(
        task_id="t1",
        action="prompt",
        inputs={},
        workdir=tmp_path,
        settings={"env": {"FROM_SETTINGS": "s", "BOTH": "settings"}},
        env={"BOTH": "task", "FROM_TASK": "t"},
        secrets={secret: "k3y"},
        on_event=lambda *_: None,
    )
    env = plugin.environment(ctx)
    assert (env["FROM_SETTINGS"], env["BOTH"], env["FROM_TASK"]) == ("s", "task", "t")
    assert env[variable] == "k3y"
    assert env["PATH"] == os.environ["PATH"]
