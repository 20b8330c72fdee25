"""What a plugin hands the OS when it starts a program: no NUL byte, no malformed variable name.

The agent runs on uvloop, whose spawn cuts an argument at its first NUL byte (`echo a\\0b` ran
`echo a`) and writes `A=B` + `c` as the variable `A` with value `B=c`; asyncio's own loop refuses
both. Every test here runs on both loops, and every refusal must happen before anything starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

import pytest
import uvloop

from photon.errors import TaskFailed
from photon.model import FailureClass
from photon.plugins import CliAdapter, run_process
from photon.plugins.builtin.claude_code import ClaudeCodePlugin
from photon.plugins.builtin.codex import CodexPlugin
from photon.plugins.builtin.cursor_agent import CursorAgentPlugin
from photon.plugins.builtin.gemini_cli import GeminiCliPlugin
from photon.plugins.builtin.shell import ShellPlugin
from photon.plugins.testing import FakeTaskContext

LOOPS: Mapping[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


def refused(loop: str, run: Coroutine[Any, Any, Any]) -> TaskFailed:
    """Run `run` on `loop`; it must fail as invalid_input."""
    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner, pytest.raises(TaskFailed) as info:
        runner.run(run)
    assert info.value.failure_class is FailureClass.INVALID_INPUT, info.value
    return info.value


@pytest.fixture
def marker_program(tmp_path: Path) -> tuple[Path, Path]:
    """A program that leaves a file behind when it runs, and that file's path."""
    marker = tmp_path / "it-ran"
    program = tmp_path / "record"
    program.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{marker}"\n')
    program.chmod(0o755)
    return program, marker


def test_the_loops_really_differ(tmp_path: Path) -> None:
    # The reason this file exists: without the checks, uvloop starts `echo a`. If uvloop ever
    # refuses NUL itself, this fails and the file's premise should be revisited.
    class Exits(asyncio.SubprocessProtocol):
        def __init__(self) -> None:
            self.exited = asyncio.Event()

        def process_exited(self) -> None:
            self.exited.set()

    async def echo() -> str:
        loop = asyncio.get_running_loop()
        script = 'printf "%s" "$1" > out'
        transport, protocol = await loop.subprocess_exec(
            Exits, "sh", "-c", script, "sh", "a\x00b", cwd=tmp_path
        )
        await protocol.exited.wait()
        transport.close()
        return (tmp_path / "out").read_text()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(echo()) == "a"


# --- run_process: the check every adapter gets ---------------------------------------------


@pytest.mark.parametrize("loop", sorted(LOOPS))
@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("argument", "record: argument 2 contains a NUL byte"),
        ("program", "program 'rec\\x00ord' contains a NUL byte"),
        ("env-value", "record: environment variable 'PHOTON_X' contains a NUL byte"),
        ("env-key", "record: environment variable name 'PHOTON\\x00X' contains a NUL byte"),
        ("env-equals", "record: environment variable name 'A=B' must not contain '='"),
        ("env-empty", "record: environment variable name '' must not be empty"),
        ("cwd", "record: working directory "),
    ],
)
def test_run_process_refuses_what_the_os_would_mangle(
    tmp_path: Path, marker_program: tuple[Path, Path], loop: str, where: str, message: str
) -> None:
    program, marker = marker_program
    argv = [str(program), "one", "two"]
    env: dict[str, str] | None = None
    cwd = tmp_path
    if where == "argument":
        argv[2] = "a\x00b"
    elif where == "program":
        argv[0] = "rec\x00ord"
    elif where == "env-value":
        env = {"PHOTON_X": "a\x00b"}
    elif where == "env-key":
        env = {"PHOTON\x00X": "v"}
    elif where == "env-equals":
        env = {"A=B": "c"}
    elif where == "env-empty":
        env = {"": "c"}
    else:
        (tmp_path / "a").mkdir()  # where a cut-off path would lead
        cwd = tmp_path / "a\x00b"
    failure = refused(loop, run_process(argv, cwd=cwd, env=env))
    expected = message.replace("record:", f"{program}:")
    assert str(failure).startswith(expected), str(failure)
    if where == "cwd":
        assert str(failure).endswith("contains a NUL byte")
    assert not marker.exists()


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_run_process_does_not_show_the_refused_value(
    tmp_path: Path, marker_program: tuple[Path, Path], loop: str
) -> None:
    program, marker = marker_program
    for argv, env in [
        ([str(program), "--token=s3cret\x00"], None),
        ([str(program)], {"TOKEN": "s3cret\x00"}),
        ([str(program)], {"N" * 500 + "\x00": "v"}),
    ]:
        failure = refused(loop, run_process(argv, cwd=tmp_path, env=env))
        assert "s3cret" not in str(failure)
        assert len(str(failure)) < len(str(program)) + 120
    assert not marker.exists()


# --- shell: names the input ------------------------------------------------------------------


@pytest.mark.parametrize("loop", sorted(LOOPS))
@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"argv": ["RECORD", "a\x00b"]}, "input 'argv' item 1 contains a NUL byte"),
        ({"argv": ["RECORD"], "env": {"X": "a\x00b"}}, "input 'env' value of 'X' contains a NUL"),
        ({"argv": ["RECORD"], "env": {"X\x00": "v"}}, "input 'env' name 'X\\x00' contains a NUL"),
        ({"argv": ["RECORD"], "env": {"A=B": "c"}}, "input 'env' name 'A=B' must not contain '='"),
        ({"argv": ["RECORD"], "env": {"": "c"}}, "input 'env' names must not be empty"),
    ],
)
def test_shell_refuses_nul_and_bad_variable_names(
    tmp_path: Path,
    marker_program: tuple[Path, Path],
    loop: str,
    inputs: dict[str, Any],
    message: str,
) -> None:
    program, marker = marker_program
    inputs = {**inputs, "argv": [str(program), *inputs["argv"][1:]]}
    ctx = FakeTaskContext(action="run", inputs=inputs, workdir=tmp_path)
    failure = refused(loop, ShellPlugin().run(ctx))
    assert str(failure).startswith(message), str(failure)
    assert not marker.exists()


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_shell_script_with_nul_is_refused(
    tmp_path: Path, marker_program: tuple[Path, Path], loop: str
) -> None:
    _, marker = marker_program
    # Cut at the NUL, this would be a script that touches the marker.
    ctx = FakeTaskContext(
        action="script",
        inputs={"script": f"touch {marker}\x00; echo more"},
        workdir=tmp_path,
        settings={"script": True},
    )
    failure = refused(loop, ShellPlugin().run(ctx))
    assert str(failure) == "input 'script' contains a NUL byte"
    assert not marker.exists()


# --- the AI CLI adapters: inputs and settings ------------------------------------------------

ADAPTERS: Mapping[str, type[CliAdapter]] = {
    "claude-code": ClaudeCodePlugin,
    "codex": CodexPlugin,
    "cursor-agent": CursorAgentPlugin,
    "gemini-cli": GeminiCliPlugin,
}


@pytest.mark.parametrize("loop", sorted(LOOPS))
@pytest.mark.parametrize("adapter", sorted(ADAPTERS))
@pytest.mark.parametrize(
    ("inputs", "settings", "message"),
    [
        ({"prompt": "hi\x00there"}, {}, "input 'prompt' must be a string without NUL bytes"),
        (
            {"prompt": "hi", "model": "m\x00"},
            {},
            "input 'model' must be a string without NUL bytes",
        ),
        (
            {"prompt": "hi", "extra_args": ["--x", "y\x00"]},
            {},
            "input 'extra_args' must be a list of strings without NUL bytes",
        ),
        (
            {"prompt": "hi"},
            {"extra_args": ["a\x00"]},
            "setting 'extra_args' must be a list of strings without NUL bytes",
        ),
        ({"prompt": "hi"}, {"env": {"K": "v\x00"}}, "environment variable 'K' contains a NUL"),
        ({"prompt": "hi", "cwd": "a\x00b"}, {}, "input 'cwd' contains a NUL byte"),
    ],
)
def test_adapters_refuse_nul(
    tmp_path: Path,
    marker_program: tuple[Path, Path],
    loop: str,
    adapter: str,
    inputs: dict[str, Any],
    settings: dict[str, Any],
    message: str,
) -> None:
    program, marker = marker_program
    (tmp_path / "a").mkdir()
    ctx = FakeTaskContext(
        action="prompt",
        inputs=inputs,
        workdir=tmp_path,
        settings={"binary": str(program), **settings},
    )
    failure = refused(loop, ADAPTERS[adapter]().run(ctx))
    assert message in str(failure), str(failure)
    assert not marker.exists()


@pytest.mark.parametrize("adapter", sorted(ADAPTERS))
async def test_a_binary_setting_with_nul_is_reported_by_detect(adapter: str) -> None:
    detection = await ADAPTERS[adapter]().detect(settings={"binary": "/usr/bin/cl\x00aude"})
    assert not detection.available
    assert detection.detail == "the binary setting contains a NUL byte"
