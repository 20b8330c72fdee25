"""The claude-code adapter against the fake `claude` in tests/fakes: argv, events, outcomes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from photon.errors import TaskFailed
from photon.model import FailureClass
from photon.plugins import SimpleTaskContext, load_plugins
from photon.plugins.builtin.claude_code import QUIET_ENV, ClaudeCodePlugin
from photon.plugins.testing import check_conformance

from ._fake_cli import FAKES, FakeCli, alive, of_kind, recorded_argv

CLAUDE = FAKES / "claude"
SESSION = "5f1c3a52-8e0b-4b5e-9d2a-3c7f0e9a1b10"
RESUMED_SESSION = "9d0e6b7a-2c41-4f0e-8a55-7b3e1d2c4f60"
USAGE = {
    "input_tokens": 1200,
    "output_tokens": 340,
    "cache_creation_input_tokens": 2000,
    "cache_read_input_tokens": 15000,
}
BASE_ARGV = ["-p", "--output-format", "stream-json", "--verbose"]

make_ctx = FakeCli(CLAUDE, ClaudeCodePlugin).make_ctx


# --- declaration and discovery -------------------------------------------------------------


def test_registered_as_an_entry_point() -> None:
    loaded = load_plugins()
    assert "claude-code" not in loaded.errors
    plugin = loaded.plugins["claude-code"]
    assert isinstance(plugin, ClaudeCodePlugin)
    assert plugin.default_action == "prompt"
    assert [a.name for a in plugin.actions] == ["prompt"]


async def test_detect_reports_the_version_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    detection = await ClaudeCodePlugin().detect()
    assert detection.available
    assert detection.version == "2.1.3"


async def test_detect_without_the_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    detection = await ClaudeCodePlugin().detect()
    assert not detection.available
    assert "claude not found" in detection.detail


async def test_passes_the_conformance_suite() -> None:
    await check_conformance(
        ClaudeCodePlugin(),
        sample_inputs={"prompt": {"prompt": "hello"}},
        settings={"binary": str(CLAUDE)},
    )


# --- successful runs -------------------------------------------------------------------------


async def test_success_outputs_events_and_command_line(tmp_path: Path) -> None:
    ctx, events = make_ctx(tmp_path, {"prompt": "hello"})
    outputs = await ClaudeCodePlugin().run(ctx)

    assert outputs == {
        "result": "Done: hello",
        "session_id": SESSION,
        "usage": USAGE,
        "cost_usd": 0.0123,
        "num_turns": 3,
    }
    assert recorded_argv(tmp_path) == [*BASE_ARGV, "--", "hello"]
    assert [(kind, message) for kind, message, _ in events] == [
        ("status", f"session {SESSION} started (model claude-sonnet-4-5-20250929)"),
        ("log", "I'll look at the files first."),
        ("usage", ""),
        ("tool_call", 'Bash {"command": "ls", "description": "List files"}'),
        ("usage", ""),
        ("tool_result", "README.md\nsrc"),
        ("log", "Done: hello"),
        ("usage", ""),
        ("cost", "$0.0123"),
        ("usage", ""),
    ]
    status = events[0][2]
    assert status["cwd"] == str(ctx.workdir.resolve())
    assert status["session_id"] == SESSION
    assert events[3][2] == {
        "tool": "Bash",
        "id": "toolu_01",
        "input": {"command": "ls", "description": "List files"},
    }
    assert events[5][2] == {"id": "toolu_01", "is_error": False}
    assert events[2][2] == {
        "scope": "message",
        "message_id": "msg_01",
        "input_tokens": 400,
        "output_tokens": 60,
    }
    assert events[-2][2] == {"usd": 0.0123}
    assert events[-1][2] == {"scope": "total", **USAGE}


async def test_inputs_and_settings_shape_the_command_line(tmp_path: Path) -> None:
    inputs = {
        "prompt": "-v is not a flag here",
        "permission_mode": "acceptEdits",
        "allowed_tools": ["Read", "Edit", "Bash(git:*)"],
        "disallowed_tools": ["Bash(rm:*)"],
        "model": "opus",
        "max_turns": 40,
        "system_prompt": "Be brief.",
        "resume": SESSION,
        "extra_args": ["--add-dir", "/tmp"],
    }
    settings = {"model": "sonnet", "extra_args": ["--fallback-model", "haiku"]}
    ctx, events = make_ctx(tmp_path, inputs, settings=settings)
    outputs = await ClaudeCodePlugin().run(ctx)

    assert recorded_argv(tmp_path) == [
        *BASE_ARGV,
        "--permission-mode",
        "acceptEdits",
        "--allowedTools",
        "Read,Edit,Bash(git:*)",
        "--disallowedTools",
        "Bash(rm:*)",
        "--model",
        "opus",
        "--max-turns",
        "40",
        "--append-system-prompt",
        "Be brief.",
        f"--resume={SESSION}",
        "--fallback-model",
        "haiku",
        "--add-dir",
        "/tmp",
        "--",
        "-v is not a flag here",
    ]
    # The resumed run got a new session id: the latest event wins over what was passed in.
    assert events[0][2]["session_id"] == SESSION
    assert outputs["session_id"] == RESUMED_SESSION
    assert outputs["result"] == "Done: -v is not a flag here"


async def test_settings_give_the_defaults(tmp_path: Path) -> None:
    ctx, events = make_ctx(
        tmp_path, {"prompt": "hi"}, settings={"model": "sonnet", "permission_mode": "plan"}
    )
    await ClaudeCodePlugin().run(ctx)
    assert recorded_argv(tmp_path) == [
        *BASE_ARGV,
        "--permission-mode",
        "plan",
        "--model",
        "sonnet",
        "--",
        "hi",
    ]
    assert events[0][2]["permission_mode"] == "plan"
    assert events[0][2]["model"] == "sonnet"


async def test_tool_calls_and_results_in_order(tmp_path: Path) -> None:
    ctx, events = make_ctx(tmp_path, {"prompt": "edit"}, scenario="tool_calls")
    outputs = await ClaudeCodePlugin().run(ctx)
    assert outputs["result"] == "Edited README.md."
    assert outputs["num_turns"] == 4
    calls = [
        (kind, data.get("tool") or data["id"])
        for kind, _, data in events
        if kind in {"tool_call", "tool_result"}
    ]
    assert calls == [
        ("tool_call", "Read"),
        ("tool_result", "toolu_01"),
        ("tool_call", "Edit"),
        ("tool_result", "toolu_02"),
        ("tool_call", "Bash"),
        ("tool_result", "toolu_03"),
    ]
    assert [(m, d["is_error"]) for _, m, d in of_kind(events, "tool_result")] == [
        ("# Project", False),
        ("String to replace not found in file.", True),
        ("", False),
    ]


async def test_noise_lines_and_unknown_events_are_tolerated(tmp_path: Path) -> None:
    ctx, events = make_ctx(tmp_path, {"prompt": "hello"}, scenario="noise")
    outputs = await ClaudeCodePlugin().run(ctx)
    assert outputs["result"] == "Done: hello"
    assert outputs["session_id"] == SESSION
    assert [m for _, m, d in of_kind(events, "log") if d.get("stream") == "stdout"] == [
        "Warning: Claude Code is running in an untrusted folder",
        "",
        "[1, 2, 3]",
        "{not json",
        "Retrying in 1 seconds… (attempt 1/10)",
    ]
    # Thinking blocks, hooks, stream_event and unknown types leave no event of their own.
    assert [m for _, m, d in of_kind(events, "log") if "stream" not in d] == ["Done: hello"]
    assert [k for k, _, _ in events if k not in {"log", "usage"}] == ["status", "cost"]


async def test_secrets_reach_the_tool_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    ctx, events = make_ctx(tmp_path, {"prompt": "hi"})
    await ClaudeCodePlugin().run(ctx)
    assert events[0][2]["api_key_source"] == "none"

    ctx, events = make_ctx(tmp_path, {"prompt": "hi"}, secrets={"ANTHROPIC_API_KEY": "sk-x"})
    await ClaudeCodePlugin().run(ctx)
    assert events[0][2]["api_key_source"] == "ANTHROPIC_API_KEY"


async def test_cwd_input_picks_a_directory_inside_the_workspace(tmp_path: Path) -> None:
    ctx, events = make_ctx(tmp_path, {"prompt": "hi", "cwd": "repo/sub"})
    (ctx.workdir / "repo" / "sub").mkdir(parents=True)
    await ClaudeCodePlugin().run(ctx)
    assert events[0][2]["cwd"] == str((ctx.workdir / "repo" / "sub").resolve())


# --- failures --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "failure_class", "message", "retry_at"),
    [
        (
            "rate_limit",
            FailureClass.QUOTA,
            r"^Claude AI usage limit reached\|1767225600$",
            1767225600.0,
        ),
        ("auth", FailureClass.AUTH, r"^Invalid API key · Please run /login$", None),
        (
            "permission_denied",
            FailureClass.TOOL_ERROR,
            r"^permission denied for tool\(s\) Bash; allow them with",
            None,
        ),
        ("max_turns", FailureClass.TOOL_ERROR, r"^Reached maximum number of turns \(2\)$", None),
        (
            "api_auth",
            FailureClass.AUTH,
            r"^the Anthropic API refused the credentials \(HTTP 401\): check ANTHROPIC_API_KEY",
            None,
        ),
        ("api_overloaded", FailureClass.TOOL_ERROR, r"^API Error: 529 Overloaded\.", None),
        (
            "silent_error",
            FailureClass.TOOL_ERROR,
            r"^claude reported an error without a message after 1 turn$",
            None,
        ),
        (
            "unknown_session",
            FailureClass.INVALID_INPUT,
            rf"^No conversation found with session ID: {SESSION}$",
            None,
        ),
        (
            "cut",
            FailureClass.TOOL_ERROR,
            r"^stream ended without a result event \(exit 1\): Error: socket hang up$",
            None,
        ),
        (
            "nonzero",
            FailureClass.TOOL_ERROR,
            r"^stream ended without a result event \(exit 2\): Error: ENOSPC: no space left",
            None,
        ),
    ],
)
async def test_failures_are_classified(
    tmp_path: Path,
    scenario: str,
    failure_class: FailureClass,
    message: str,
    retry_at: float | None,
) -> None:
    ctx, _ = make_ctx(
        tmp_path,
        {"prompt": "hello"},
        scenario=scenario,
        env={"PHOTON_FAKE_RESET_AT": "1767225600"},
    )
    with pytest.raises(TaskFailed, match=message) as info:
        await ClaudeCodePlugin().run(ctx)
    assert info.value.failure_class is failure_class
    assert info.value.retry_at == retry_at


async def test_rate_limit_exits_zero_and_still_keeps_cost_and_session(tmp_path: Path) -> None:
    ctx, events = make_ctx(
        tmp_path, {"prompt": "hello"}, scenario="rate_limit", env={"PHOTON_FAKE_RESET_AT": "5"}
    )
    with pytest.raises(TaskFailed) as info:
        await ClaudeCodePlugin().run(ctx)
    assert info.value.failure_class is FailureClass.QUOTA
    assert info.value.retry_at is None  # "|5" is no epoch
    assert of_kind(events, "cost") == [("cost", "$0.0000", {"usd": 0.0})]
    assert [m for _, m, d in of_kind(events, "log")] == ["Claude AI usage limit reached|5"]


async def test_cut_stream_leaves_the_partial_line_as_noise(tmp_path: Path) -> None:
    ctx, events = make_ctx(tmp_path, {"prompt": "hello"}, scenario="cut")
    with pytest.raises(TaskFailed):
        await ClaudeCodePlugin().run(ctx)
    logs = [(d.get("stream"), m) for _, m, d in of_kind(events, "log")]
    assert logs[0] == (None, "Working on it...")
    assert ("stdout", '{"type":"assistant","message":{"id":"msg_02","content":[{"type":"te') in logs
    assert ("stderr", "Error: socket hang up") in logs


async def test_a_rate_limit_stops_the_tool_at_once_with_the_retry_time(tmp_path: Path) -> None:
    ctx, events = make_ctx(tmp_path, {"prompt": "hello"}, scenario="api_rate_limit")
    before = time.time()
    with pytest.raises(TaskFailed) as info:
        await ClaudeCodePlugin().run(ctx)
    assert info.value.failure_class is FailureClass.QUOTA
    assert str(info.value) == (
        "the Anthropic API is rate-limiting this key (HTTP 429); it asks to wait 3.0s"
    )
    assert info.value.retry_at is not None
    assert before + 3 <= info.value.retry_at <= time.time() + 3
    # Stopped at the first retry notice: the CLI's result never came.
    assert not of_kind(events, "cost")


async def test_transient_api_errors_are_left_to_the_bounded_retries(tmp_path: Path) -> None:
    ctx, events = make_ctx(tmp_path, {"prompt": "hello"}, scenario="api_overloaded")
    with pytest.raises(TaskFailed) as info:
        await ClaudeCodePlugin().run(ctx)
    assert info.value.failure_class is FailureClass.TOOL_ERROR
    retries = [m for _, m, d in of_kind(events, "status") if "error_status" in d]
    # Two, as CLAUDE_CODE_MAX_RETRIES in the adapter's environment says.
    assert retries == [
        "API error (HTTP 529, overloaded): claude retries in 0.5s (retry 1 of 2)",
        "API error (HTTP 529, overloaded): claude retries in 1.0s (retry 2 of 2)",
    ]


@pytest.mark.parametrize(
    ("scenario", "failure_class", "message"),
    [
        ("api_auth", FailureClass.AUTH, "Invalid API key · Fix external API key"),
        (
            "api_rate_limit",
            FailureClass.QUOTA,
            "API Error: Request rejected (429) · Number of requests has exceeded your rate limit",
        ),
    ],
)
async def test_without_the_clis_retries_the_results_status_decides(
    tmp_path: Path, scenario: str, failure_class: FailureClass, message: str
) -> None:
    # The agent's `env` setting may turn the CLI's retries off: no retry notice comes.
    ctx, _ = make_ctx(
        tmp_path, {"prompt": "hello"}, scenario=scenario, env={"CLAUDE_CODE_MAX_RETRIES": "0"}
    )
    with pytest.raises(TaskFailed) as info:
        await ClaudeCodePlugin().run(ctx)
    assert (info.value.failure_class, str(info.value)) == (failure_class, message)
    assert info.value.retry_at is None  # the CLI said no wait


async def test_bypassing_permissions_as_root_says_what_to_do(tmp_path: Path) -> None:
    inputs = {"prompt": "hello", "permission_mode": "bypassPermissions"}
    ctx, _ = make_ctx(tmp_path, inputs, env={"PHOTON_FAKE_UID": "0"})
    with pytest.raises(TaskFailed) as info:
        await ClaudeCodePlugin().run(ctx)
    assert info.value.failure_class is FailureClass.INVALID_INPUT
    assert "run the agent as a non-root user" in str(info.value)
    assert "set is_sandbox = true under [tools.claude-code]" in str(info.value)

    ctx, _ = make_ctx(tmp_path, inputs, settings={"is_sandbox": True}, env={"PHOTON_FAKE_UID": "0"})
    assert (await ClaudeCodePlugin().run(ctx))["result"] == "Done: hello"


def _ctx(**fields: Any) -> SimpleTaskContext:
    return SimpleTaskContext(
        task_id="t",
        action="prompt",
        inputs={},
        workdir=Path("."),
        on_event=lambda kind, message, data: None,
        **fields,
    )


def test_environment_turns_off_side_traffic_and_bounds_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DISABLE_TELEMETRY", "0")  # the agent's own environment does not win
    monkeypatch.delenv("IS_SANDBOX", raising=False)
    env = ClaudeCodePlugin().environment(_ctx())
    assert {k: env[k] for k in QUIET_ENV} == QUIET_ENV
    assert env["CLAUDE_CODE_MAX_RETRIES"] == "2"
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    assert "IS_SANDBOX" not in env
    # The owner's `env` setting and the task's env do.
    env = ClaudeCodePlugin().environment(
        _ctx(settings={"env": {"CLAUDE_CODE_MAX_RETRIES": "5"}}, env={"DISABLE_TELEMETRY": "0"})
    )
    assert (env["CLAUDE_CODE_MAX_RETRIES"], env["DISABLE_TELEMETRY"]) == ("5", "0")
    assert ClaudeCodePlugin().environment(_ctx(settings={"is_sandbox": True}))["IS_SANDBOX"] == "1"


async def test_only_the_agent_owner_declares_a_sandbox() -> None:
    with pytest.raises(TaskFailed, match="a task cannot declare the host a sandbox") as info:
        ClaudeCodePlugin().environment(_ctx(env={"IS_SANDBOX": "1"}))
    assert info.value.failure_class is FailureClass.INVALID_INPUT
    # A wrong setting makes the tool unusable on the agent, saying why.
    message = (
        "claude-code: is_sandbox under [tools.claude-code] in agent.toml must be true or false"
    )
    detection = await ClaudeCodePlugin().detect(settings={"binary": str(CLAUDE), "is_sandbox": 1})
    assert (detection.available, detection.detail) == (False, message)
    with pytest.raises(TaskFailed, match=re.escape(message)) as info:
        ClaudeCodePlugin().environment(_ctx(settings={"is_sandbox": "yes"}))
    assert info.value.failure_class is FailureClass.TOOL_MISSING


async def test_missing_binary_is_tool_missing(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, {"prompt": "hi"}, settings={"binary": str(tmp_path / "nope")})
    with pytest.raises(TaskFailed) as info:
        await ClaudeCodePlugin().run(ctx)
    assert info.value.failure_class is FailureClass.TOOL_MISSING


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x", "cwd": "../outside"}, "cwd"),
        ({"prompt": "x", "cwd": "/etc"}, "cwd"),
        ({"prompt": "x", "allowed_tools": "Read"}, "allowed_tools"),
        ({"prompt": "x", "max_turns": 0}, "max_turns"),
        ({"prompt": "x", "max_turns": True}, "max_turns"),
        ({"prompt": "x", "model": 3}, "model"),
        ({"prompt": "x", "extra_args": ["--ok", 1]}, "extra_args"),
    ],
)
async def test_bad_inputs_are_refused_before_starting(
    tmp_path: Path, inputs: dict[str, Any], field: str
) -> None:
    ctx, events = make_ctx(tmp_path, inputs)
    with pytest.raises(TaskFailed, match=f"'{field}'") as info:
        await ClaudeCodePlugin().run(ctx)
    assert info.value.failure_class is FailureClass.INVALID_INPUT
    assert not (tmp_path / "argv.json").exists()
    assert events == []


async def test_cancel_kills_the_tool_and_its_children(tmp_path: Path) -> None:
    ctx, events = make_ctx(tmp_path, {"prompt": "hello"}, scenario="slow")
    pidfile = tmp_path / "pids"
    run = asyncio.create_task(ClaudeCodePlugin().run(ctx))
    deadline = time.monotonic() + 10
    # Both pids written (the file may be seen half-written).
    while not (pidfile.exists() and len(pidfile.read_text().split()) == 2):
        assert time.monotonic() < deadline, "the fake never wrote its pidfile"
        assert not run.done(), run
        await asyncio.sleep(0.02)
    pids = [int(p) for p in pidfile.read_text().split()]
    assert len(pids) == 2 and all(alive(pid) for pid in pids)

    started = time.monotonic()
    ctx.cancelled.set()
    with pytest.raises(TaskFailed) as info:
        await asyncio.wait_for(run, 5)
    assert info.value.failure_class is FailureClass.CANCELLED
    while any(alive(pid) for pid in pids):
        assert time.monotonic() - started < 5, "the fake outlived the cancellation"
        await asyncio.sleep(0.02)
    assert [m for _, m, _ in of_kind(events, "log")] == ["Thinking for a long time..."]


# --- the fake itself speaks the real flags -----------------------------------------------------


def run_fake(*args: str, scenario: str = "success") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLAUDE), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PHOTON_FAKE_SCENARIO": scenario},
        timeout=30,
    )


def test_fake_requires_verbose_with_stream_json() -> None:
    done = run_fake("-p", "--output-format", "stream-json", "hi")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip() == (
        "Error: When using --print, --output-format=stream-json requires --verbose"
    )


def test_fake_json_format_prints_only_the_result() -> None:
    done = run_fake("-p", "--output-format", "json", "hi")
    assert done.returncode == 0
    [line] = done.stdout.splitlines()
    result = json.loads(line)
    assert result["type"] == "result"
    assert result["result"] == "Done: hi"


def test_fake_rejects_unknown_flags_and_resume_with_session_id() -> None:
    unknown = run_fake("-p", "--no-such-flag", "hi")
    assert unknown.returncode == 1
    assert "unknown option '--no-such-flag'" in unknown.stderr
    both = run_fake("-p", "--resume=a", "--session-id", "b", "hi")
    assert both.returncode == 1
    assert "--session-id cannot be used" in both.stderr
