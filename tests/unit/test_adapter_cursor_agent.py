"""The cursor-agent adapter against a fake `cursor-agent` speaking the real flags and stream."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from photon.errors import TaskFailed
from photon.model import FailureClass
from photon.plugins.builtin.cursor_agent import CursorAgentPlugin
from photon.plugins.testing import check_conformance

from ._fake_cli import FAKES, FakeCli, recorded_argv

FAKE = FAKES / "cursor-agent"
FINAL = "Reading Added the greeting to hello.py and the tests pass."

FAKE_CLI = FakeCli(FAKE, CursorAgentPlugin, pidfile="fake.pid")
make_ctx = FAKE_CLI.make_ctx
run = FAKE_CLI.run
fail = FAKE_CLI.fail


# --- success ---------------------------------------------------------------------------------


async def test_success_returns_the_result_and_emits_events_in_order(tmp_path: Path) -> None:
    outputs, events = await run(tmp_path)

    session_id = events[0][2]["session_id"]
    assert outputs == {
        "result": FINAL,
        "session_id": session_id,
        "usage": {},
        "cost_usd": None,
        "num_turns": None,
    }
    assert session_id
    assert recorded_argv(tmp_path)[1:] == [
        "-p",
        "--output-format",
        "stream-json",
        "--force",
        "--trust",
        "--workspace",
        str((tmp_path / "ws").resolve()),
        "--",
        "hi",
    ]
    assert [(kind, data.get("phase"), data.get("tool")) for kind, _, data in events] == [
        ("status", None, None),
        ("thinking", None, None),
        ("log", None, None),
        ("tool_call", "started", "read"),
        ("tool_call", "completed", "read"),
        ("tool_call", "started", "shell"),
        ("tool_call", "completed", "shell"),
        ("log", None, None),
        ("status", None, None),
    ]
    status, thinking, first_log, _, read_done, shell_started, shell_done, last_log, end = events
    assert status[1].startswith(f"session {session_id} started (model claude-4.5-sonnet)")
    assert status[2]["model"] == "claude-4.5-sonnet"
    # The three deltas arrive as one event.
    assert thinking[1] == "The user wants a greeting; check hello.py first."
    assert first_log[1] == "Reading "
    assert read_done[2]["success"] is True
    assert shell_started[2]["args"]["command"] == "pytest -q"
    assert shell_done[2]["success"] is True
    assert shell_done[2]["exit_code"] == 0
    assert last_log[1] == "Added the greeting to hello.py and the tests pass."
    assert end[2]["duration_ms"] == 5234


async def test_inputs_and_settings_shape_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "ws" / "sub").mkdir(parents=True)
    ctx, _ = make_ctx(
        tmp_path,
        {
            "prompt": "--version",  # would print the version if taken for an option
            "model": "gpt-5",
            "resume": "chat-123",
            "cwd": "sub",
            "extra_args": ["--stream-partial-output"],
        },
        settings={"model": "ignored-default", "extra_args": ["--api-key", "k"]},
    )
    outputs = await CursorAgentPlugin().run(ctx)

    assert recorded_argv(tmp_path)[1:] == [
        "-p",
        "--output-format",
        "stream-json",
        "--force",
        "--trust",
        "--model",
        "gpt-5",
        "--resume",
        "chat-123",
        "--workspace",
        str((tmp_path / "ws" / "sub").resolve()),
        "--api-key",
        "k",
        "--stream-partial-output",
        "--",
        "--version",
    ]
    assert outputs["session_id"] == "chat-123"
    assert outputs["result"] == FINAL


async def test_model_defaults_to_the_setting(tmp_path: Path) -> None:
    ctx, events = make_ctx(tmp_path, {"prompt": "hi"}, settings={"model": "sonnet-4"})
    await CursorAgentPlugin().run(ctx)
    argv = recorded_argv(tmp_path)
    assert argv[argv.index("--model") + 1] == "sonnet-4"
    assert events[0][2]["model"] == "sonnet-4"


async def test_api_key_secret_reaches_the_tool_and_is_masked(tmp_path: Path) -> None:
    ctx, events = make_ctx(tmp_path, {"prompt": "hi"}, secrets={"CURSOR_API_KEY": "sk-cur-1"})
    await CursorAgentPlugin().run(ctx)
    assert events[0][2]["api_key_source"] == "env"


async def test_noise_lines_and_unknown_events_are_tolerated(tmp_path: Path) -> None:
    outputs, events = await run(tmp_path, "noise")
    assert outputs["result"] == FINAL
    logs = [(data.get("stream"), message) for kind, message, data in events if kind == "log"]
    assert ("stdout", "Cursor Agent v2025.10.28-0a91dc2") in logs
    assert ("stdout", "Retrying request (attempt 2)...") in logs
    assert ("stderr", "(node:4242) ExperimentalWarning: SQLite is an experimental feature") in logs
    assert [k for k, _, d in events if k == "tool_call" and d["phase"] == "completed"] == [
        "tool_call",
        "tool_call",
    ]


# --- failures --------------------------------------------------------------------------------


async def test_rejected_tool_call_fails_the_run(tmp_path: Path) -> None:
    failure, events = await fail(tmp_path, "permission_denied")
    assert failure.failure_class is FailureClass.TOOL_ERROR
    assert "not allowed to run a shell tool call (blocked by a deny rule)" in str(failure)
    rejected = [d for k, _, d in events if k == "tool_call" and d.get("rejected")]
    assert rejected == [
        {
            "phase": "completed",
            "tool": "shell",
            "call_id": "call_2",
            "args": {
                "command": "pytest -q",
                "workingDirectory": str((tmp_path / "ws").resolve()),
                "timeout": 30000,
            },
            "success": False,
            "rejected": True,
            "reason": "blocked by a deny rule",
        }
    ]


@pytest.mark.parametrize(
    ("scenario", "failure_class", "message"),
    [
        (
            "trust_required",
            FailureClass.AUTH,
            "stream ended without a result event (exit 1): Workspace Trust Required",
        ),
        (
            "auth",
            FailureClass.AUTH,
            "stream ended without a result event (exit 1): Error: Authentication required. "
            "Please run 'cursor-agent login' first, or set CURSOR_API_KEY environment variable.",
        ),
        (
            "rate_limit",
            FailureClass.QUOTA,
            "stream ended without a result event (exit 1): Error: You've hit your usage limit. "
            "(429 resource_exhausted) Try again later.",
        ),
        (
            "cut",
            FailureClass.TOOL_ERROR,
            "stream ended without a result event (exit 1): "
            "Error: stream closed unexpectedly (ECONNRESET)",
        ),
        (
            "nonzero",
            FailureClass.TOOL_ERROR,
            "cursor-agent exited with 2: Error: failed to save the chat history",
        ),
        (
            "error_result",
            FailureClass.TOOL_ERROR,
            "cursor-agent reported an error: Internal error: the model returned no response",
        ),
    ],
)
async def test_failures_are_classified(
    tmp_path: Path, scenario: str, failure_class: FailureClass, message: str
) -> None:
    failure, _ = await fail(tmp_path, scenario)
    assert failure.failure_class is failure_class
    assert str(failure) == message


async def test_sign_in_prompt_on_stdout_alone_means_auth(tmp_path: Path) -> None:
    script = tmp_path / "cursor-agent"
    script.write_text("#!/bin/sh\necho 'Press any key to sign in...'\nexit 1\n")
    script.chmod(0o755)
    ctx, _ = make_ctx(tmp_path, {"prompt": "hi"}, settings={"binary": str(script)})
    with pytest.raises(TaskFailed) as info:
        await CursorAgentPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.AUTH
    assert str(info.value).endswith(": Press any key to sign in...")


async def test_missing_binary_is_tool_missing(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, {"prompt": "hi"}, settings={"binary": str(tmp_path / "nope")})
    with pytest.raises(TaskFailed) as info:
        await CursorAgentPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.TOOL_MISSING


# --- cancellation and deadlines ---------------------------------------------------------------


async def test_cancelling_kills_the_tool(tmp_path: Path) -> None:
    await FAKE_CLI.check_cancel_kills_the_tool(tmp_path)


async def test_deadline_kills_the_tool(tmp_path: Path) -> None:
    await FAKE_CLI.check_deadline_kills_the_tool(tmp_path)


# --- inputs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["parent", "absolute", "symlink"])
async def test_cwd_outside_the_workspace_is_refused(tmp_path: Path, where: str) -> None:
    await FAKE_CLI.check_cwd_outside_the_workspace_is_refused(tmp_path, where)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, "input 'prompt' must be a non-empty string"),
        ({"prompt": ""}, "input 'prompt' must be a non-empty string"),
        ({"prompt": "hi", "model": 3}, "input 'model' must be a string"),
        ({"prompt": "hi", "extra_args": "--x"}, "input 'extra_args' must be a list of strings"),
        ({"prompt": "hi", "resume": "--last"}, "input 'resume' must be a chat id, not an option"),
        (
            {"prompt": "hi", "disallowed_tools": ["Shell(rm)"], "max_turns": 3},
            "cursor-agent does not support input(s) disallowed_tools, max_turns",
        ),
    ],
)
async def test_bad_inputs_are_invalid_input(
    tmp_path: Path, inputs: dict[str, Any], message: str
) -> None:
    ctx, _ = make_ctx(tmp_path, inputs)
    with pytest.raises(TaskFailed) as info:
        await CursorAgentPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.INVALID_INPUT
    assert str(info.value) == message
    assert not (tmp_path / "argv.json").exists()


# --- contract, detection and the fake itself ------------------------------------------------


async def test_detect_finds_the_binary_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKE.parent}{os.pathsep}{os.environ['PATH']}")
    detection = await CursorAgentPlugin().detect()
    assert detection.available
    assert detection.version == "2025.10.28-0a91dc2"


async def test_conforms_to_the_plugin_contract() -> None:
    await check_conformance(
        CursorAgentPlugin(),
        sample_inputs={"prompt": {"prompt": "hi"}},
        settings={"binary": str(FAKE)},
    )


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (["-p", "hi"], "--output-format is required"),
        (["-p", "--output-format", "yaml", "hi"], "argument 'yaml' is invalid"),
        (["-p", "--output-format", "stream-json", "hi"], "Workspace Trust Required"),
        (["-p", "--output-format", "stream-json", "--trust", "--bogus", "hi"], "unknown option"),
    ],
)
def test_fake_is_as_strict_as_the_real_tool(tmp_path: Path, args: list[str], stderr: str) -> None:
    done = subprocess.run([str(FAKE), *args], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1
    assert stderr in done.stderr
    assert '"type": "result"' not in done.stdout
