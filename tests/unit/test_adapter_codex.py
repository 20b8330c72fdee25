"""The codex adapter against a fake `codex` speaking the real exec flags and JSONL events."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from photon.errors import TaskFailed
from photon.model import FailureClass
from photon.plugins.builtin.codex import CodexPlugin
from photon.plugins.testing import check_conformance

from ._fake_cli import FAKES, FakeCli, recorded_argv

FAKE = FAKES / "codex"
FINAL = "Added the greeting to hello.py; the tests pass."
USAGE = {"input_tokens": 1200, "cached_input_tokens": 800, "output_tokens": 150}

FAKE_CLI = FakeCli(FAKE, CodexPlugin, pidfile="fake.pid")
make_ctx = FAKE_CLI.make_ctx
run = FAKE_CLI.run
fail = FAKE_CLI.fail


# --- success ---------------------------------------------------------------------------------


async def test_success_returns_the_last_message_and_emits_events_in_order(tmp_path: Path) -> None:
    outputs, events = await run(tmp_path)

    thread_id = events[0][2]["session_id"]
    assert thread_id
    assert outputs == {
        "result": FINAL,
        "session_id": thread_id,
        "usage": USAGE,
        "cost_usd": None,
        "num_turns": 1,
    }
    assert recorded_argv(tmp_path)[1:] == [
        "exec",
        "--json",
        "--sandbox",
        "workspace-write",
        "--skip-git-repo-check",
        "-C",
        str((tmp_path / "ws").resolve()),
        "--",
        "hi",
    ]
    assert [(kind, data.get("phase"), data.get("tool")) for kind, _, data in events] == [
        ("status", None, None),
        ("thinking", None, None),
        ("tool_call", "started", "command"),
        ("tool_call", "completed", "command"),
        ("status", None, None),
        ("tool_call", "completed", "file_change"),
        ("log", None, None),
        ("log", None, None),
        ("usage", None, None),
    ]
    started, thinking, cmd_start, cmd_done, todo, change, first, last, usage = events
    assert started[1] == f"thread {thread_id} started"
    assert thinking[1] == "**Checking hello.py**"
    assert cmd_start[1] == "bash -lc 'pytest -q'"
    assert cmd_done[1] == "bash -lc 'pytest -q' (exit 0)"
    assert cmd_done[2]["exit_code"] == 0 and cmd_done[2]["success"] is True
    assert cmd_done[2]["output"] == "1 passed\n"
    assert todo[2]["todo"] == [{"text": "edit", "completed": True}]
    assert change[2]["changes"] == [
        {"path": str((tmp_path / "ws" / "hello.py").resolve()), "kind": "update"}
    ]
    assert (first[1], last[1]) == ("Editing hello.py now.", FINAL)
    assert usage[2] == {"scope": "turn", **USAGE}


async def test_resume_keeps_exec_options_before_the_subcommand(tmp_path: Path) -> None:
    (tmp_path / "ws" / "sub").mkdir(parents=True)
    ctx, _ = make_ctx(
        tmp_path,
        {
            "prompt": "--help",  # would be taken for an option without "--"
            "model": "gpt-5-codex",
            "permission_mode": "read-only",
            "resume": "0199a213-81c0-7800-8aa1-bbab2a035a53",
            "cwd": "sub",
            "extra_args": ["-c", "model_reasoning_effort=high"],
        },
        settings={"model": "ignored-default", "extra_args": ["--ephemeral"]},
    )
    outputs = await CodexPlugin().run(ctx)

    # The fake, like clap, refuses --sandbox and -C after `resume`: this run passing proves the
    # order is one the real tool accepts.
    assert recorded_argv(tmp_path)[1:] == [
        "exec",
        "--json",
        "--sandbox",
        "read-only",
        "--skip-git-repo-check",
        "-m",
        "gpt-5-codex",
        "-C",
        str((tmp_path / "ws" / "sub").resolve()),
        "--ephemeral",
        "-c",
        "model_reasoning_effort=high",
        "resume",
        "0199a213-81c0-7800-8aa1-bbab2a035a53",
        "--",
        "--help",
    ]
    assert outputs["session_id"] == "0199a213-81c0-7800-8aa1-bbab2a035a53"
    assert outputs["result"] == FINAL


async def test_settings_give_model_and_sandbox_defaults(tmp_path: Path) -> None:
    ctx, _ = make_ctx(
        tmp_path,
        {"prompt": "hi"},
        settings={"model": "o4-mini", "permission_mode": "danger-full-access"},
    )
    await CodexPlugin().run(ctx)
    argv = recorded_argv(tmp_path)
    assert argv[argv.index("-m") + 1] == "o4-mini"
    assert argv[argv.index("--sandbox") + 1] == "danger-full-access"


async def test_noise_lines_and_unknown_events_are_tolerated(tmp_path: Path) -> None:
    outputs, events = await run(tmp_path, "noise")
    assert outputs["result"] == FINAL
    assert outputs["usage"] == USAGE
    logs = [(data.get("stream"), message) for kind, message, data in events if kind == "log"]
    assert (
        "stdout",
        "WARNING: proceeding, even though we could not update PATH: Permission denied",
    ) in logs
    assert ("stderr", "Reading additional input from stdin...") in logs


# --- failures --------------------------------------------------------------------------------


async def test_auth_failure(tmp_path: Path) -> None:
    failure, events = await fail(tmp_path, "auth")
    assert failure.failure_class is FailureClass.AUTH
    assert str(failure) == (
        "codex turn failed: unexpected status 401 Unauthorized: "
        "Missing bearer or basic authentication in header"
    )
    assert failure.retry_at is None
    assert [(k, d.get("level")) for k, _, d in events if k == "log"] == [("log", "error")]


async def test_usage_limit_is_quota_with_the_reset_time(tmp_path: Path) -> None:
    before = time.time()
    failure, _ = await fail(tmp_path, "rate_limit")
    assert failure.failure_class is FailureClass.QUOTA
    assert "You've hit your usage limit" in str(failure)
    assert failure.retry_at is not None
    assert before + 5400 <= failure.retry_at <= time.time() + 5400


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ("turn_failed", "codex turn failed: stream error: model produced invalid output"),
        (
            "cut",
            "stream ended without turn.completed (exit 1): "
            "Error: stream disconnected before completion: connection reset by peer",
        ),
        ("nonzero", "codex exited with 1: Error: failed to write the rollout file"),
    ],
)
async def test_other_failures_are_tool_errors(tmp_path: Path, scenario: str, message: str) -> None:
    failure, _ = await fail(tmp_path, scenario)
    assert failure.failure_class is FailureClass.TOOL_ERROR
    assert str(failure) == message


async def test_error_event_without_a_turn_result_classifies_the_run(tmp_path: Path) -> None:
    script = tmp_path / "codex"
    script.write_text(
        "#!/bin/sh\n"
        'echo \'{"type":"thread.started","thread_id":"t-1"}\'\n'
        'echo \'{"type":"error","message":"exceeded retry limit, last status: 429"}\'\n'
        "exit 1\n"
    )
    script.chmod(0o755)
    ctx, _ = make_ctx(tmp_path, {"prompt": "hi"}, settings={"binary": str(script)})
    with pytest.raises(TaskFailed) as info:
        await CodexPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.QUOTA
    assert str(info.value) == (
        "stream ended without turn.completed (exit 1): exceeded retry limit, last status: 429"
    )


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
        (
            {"prompt": "hi", "permission_mode": "yolo"},
            "input 'permission_mode' must be one of read-only, workspace-write, danger-full-access",
        ),
        ({"prompt": "hi", "resume": "--last"}, "input 'resume' must be a thread id, not an option"),
        ({"prompt": "hi", "extra_args": [1]}, "input 'extra_args' must be a list of strings"),
        (
            {"prompt": "hi", "allowed_tools": ["Bash"], "system_prompt": "be terse"},
            "codex does not support input(s) allowed_tools, system_prompt",
        ),
    ],
)
async def test_bad_inputs_are_invalid_input(
    tmp_path: Path, inputs: dict[str, Any], message: str
) -> None:
    ctx, _ = make_ctx(tmp_path, inputs)
    with pytest.raises(TaskFailed) as info:
        await CodexPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.INVALID_INPUT
    assert str(info.value) == message
    assert not (tmp_path / "argv.json").exists()


# --- contract, detection and the fake itself ------------------------------------------------


async def test_detect_reports_the_version_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKE.parent}{os.pathsep}{os.environ['PATH']}")
    detection = await CodexPlugin().detect()
    assert detection.available
    assert detection.version == "0.50.0"


async def test_conforms_to_the_plugin_contract() -> None:
    await check_conformance(
        CodexPlugin(), sample_inputs={"prompt": {"prompt": "hi"}}, settings={"binary": str(FAKE)}
    )


@pytest.mark.parametrize(
    ("args", "code", "stderr"),
    [
        (["exec", "--skip-git-repo-check", "hi"], 2, "pass --json"),
        (["exec", "--json", "hi"], 1, "--skip-git-repo-check was not specified"),
        (["exec", "--json", "--sandbox", "all", "hi"], 2, "invalid value 'all'"),
        (["exec", "--json", "resume", "t-1", "-C", ".", "hi"], 2, "unexpected argument '-C'"),
        (["exec", "--json", "--skip-git-repo-check"], 1, "No prompt provided"),
    ],
)
def test_fake_is_as_strict_as_the_real_tool(
    tmp_path: Path, args: list[str], code: int, stderr: str
) -> None:
    done = subprocess.run([str(FAKE), *args], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == code
    assert stderr in done.stderr
    assert "turn.completed" not in done.stdout
