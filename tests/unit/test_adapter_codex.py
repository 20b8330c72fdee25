"""The codex adapter against a fake `codex` speaking the real exec flags and JSONL events."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from photon.errors import TaskFailed
from photon.model import FailureClass
from photon.plugins import SimpleTaskContext
from photon.plugins.builtin.codex import CodexPlugin, reset_time
from photon.plugins.testing import check_conformance

from ._fake_cli import FAKES, FakeCli, recorded_argv

FAKE = FAKES / "codex"
FINAL = "Added the greeting to hello.py; the tests pass."
# The real stream's usage: five counts (cache writes and reasoning tokens too).
USAGE = {
    "input_tokens": 1200,
    "cached_input_tokens": 800,
    "cache_write_input_tokens": 0,
    "output_tokens": 150,
    "reasoning_output_tokens": 40,
}
# The overrides every run carries: no analytics, feedback, update check or OpenTelemetry.
QUIET = [
    "-c",
    "analytics.enabled=false",
    "-c",
    "feedback.enabled=false",
    "-c",
    "check_for_update_on_startup=false",
    "-c",
    'otel.exporter="none"',
    "-c",
    'otel.trace_exporter="none"',
    "-c",
    'otel.metrics_exporter="none"',
]

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
        *QUIET,
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
        *QUIET,
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
    assert "You\u2019ve hit your usage limit" in str(failure)
    assert failure.retry_at is not None
    # codex shows the reset as a local clock time, to the minute.
    assert before + 5400 - 60 <= failure.retry_at <= time.time() + 5400


def _retry_in(message: str) -> float | None:
    at = reset_time(message)
    return None if at is None else at - time.time()


@pytest.mark.parametrize(
    ("message", "seconds"),
    [
        ("rate limit exceeded: Rate limit reached for gpt-5. Please try again in 3s.", 3),
        ("Please try again in 1.5s.", 1.5),
        ("Please try again in 250ms.", 0.25),
        ("or try again in 1 hour 30 minutes.", 5400),
        ("try again in 2 days", 172800),
        ("Side chat is still closing. Try again in a moment.", None),
        ("exceeded retry limit, last status: 429 Too Many Requests", None),
    ],
)
def test_retry_in_messages_give_the_reset_time(message: str, seconds: float | None) -> None:
    assert _retry_in(message) == (None if seconds is None else pytest.approx(seconds, abs=0.2))


def test_retry_at_a_clock_time_is_the_next_such_time() -> None:
    now = datetime.now().astimezone()
    soon, past = now + timedelta(minutes=90), now - timedelta(hours=2)
    later = reset_time(f"or try again at {soon.strftime('%-I:%M %p')}.")
    assert later is not None and soon.timestamp() - 60 <= later <= soon.timestamp()
    # A clock time already gone today is tomorrow's.
    tomorrow = reset_time(f"try again at {past.strftime('%-I:%M %p')}.")
    assert tomorrow is not None
    assert past.timestamp() + 86400 - 60 <= tomorrow <= past.timestamp() + 86400
    far = now.replace(second=0, microsecond=0) + timedelta(days=3)
    dated = reset_time(f"try again at {far.strftime('%b %-d')}th, {far.strftime('%Y %-I:%M %p')}.")
    assert dated == far.timestamp()


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ("turn_failed", "codex turn failed: stream error: model produced invalid output"),
        (
            "cut",
            "codex turn failed: stream disconnected before completion: "
            "Transport error: network error: error decoding response body",
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


async def test_an_api_error_body_becomes_its_message(tmp_path: Path) -> None:
    # What the real codex prints for a 400 about the key: the response body, as it came.
    body = (
        '{"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",'
        ' "param": null, "code": "invalid_api_key"}}'
    )
    failure = await _fails_with(tmp_path, [{"type": "turn.failed", "error": {"message": body}}])
    assert failure.failure_class is FailureClass.AUTH
    assert str(failure) == "codex turn failed: Incorrect API key provided. (invalid_api_key)"


async def test_resuming_a_thread_codex_does_not_have_is_invalid_input(tmp_path: Path) -> None:
    thread = "0199a213-81c0-7800-8aa1-bbab2a035a53"
    failure, _ = await fail(tmp_path, "no_thread", resume=thread)
    assert failure.failure_class is FailureClass.INVALID_INPUT
    assert str(failure) == (
        f"codex has no thread {thread} to resume on this agent"
        " (threads live in the agent's CODEX_HOME)"
    )


async def _fails_with(tmp_path: Path, events: list[dict[str, Any]]) -> TaskFailed:
    script = tmp_path / "codex"
    lines = "".join(f"echo '{json.dumps(e)}'\n" for e in events)
    script.write_text(f"#!/bin/sh\n{lines}exit 1\n")
    script.chmod(0o755)
    ctx, _ = make_ctx(tmp_path, {"prompt": "hi"}, settings={"binary": str(script)})
    with pytest.raises(TaskFailed) as info:
        await CodexPlugin().run(ctx)
    return info.value


# --- what every run is given -----------------------------------------------------------------


def test_environment_keeps_errors_to_one_line_and_passes_an_openai_key_on(tmp_path: Path) -> None:
    def environment(**kw: Any) -> dict[str, str]:
        ctx = SimpleTaskContext(
            task_id="t", action="prompt", inputs={}, workdir=tmp_path, on_event=print, **kw
        )
        return CodexPlugin().environment(ctx)

    # codex's own OpenAI provider reads CODEX_API_KEY only.
    assert environment(secrets={"OPENAI_API_KEY": "sk-1"})["CODEX_API_KEY"] == "sk-1"
    assert environment(env={"OPENAI_API_KEY": "sk-2"})["CODEX_API_KEY"] == "sk-2"
    both = environment(secrets={"OPENAI_API_KEY": "sk-1", "CODEX_API_KEY": "ck"})
    assert (both["OPENAI_API_KEY"], both["CODEX_API_KEY"]) == ("sk-1", "ck")
    assert environment(settings={"env": {"RUST_BACKTRACE": "1"}})["RUST_BACKTRACE"] == "0"


async def test_config_setting_becomes_overrides_and_bounds_a_custom_providers_retries(
    tmp_path: Path,
) -> None:
    config = {
        "model_provider": "local",
        "model_providers": {"local": {"name": "Local", "base_url": "http://127.0.0.1:9/v1"}},
        "sandbox_workspace_write": {"network_access": True, "writable_roots": ["/srv/a"]},
        "model_reasoning_effort": "high",
        "tool_output_token_limit": 2000,
    }
    ctx, _ = make_ctx(tmp_path, {"prompt": "hi"}, settings={"config": config})
    await CodexPlugin().run(ctx)
    argv = recorded_argv(tmp_path)
    overrides = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-c"]
    assert overrides == [
        *QUIET[1::2],
        'model_provider="local"',
        'model_providers.local.name="Local"',
        'model_providers.local.base_url="http://127.0.0.1:9/v1"',
        "sandbox_workspace_write.network_access=true",
        'sandbox_workspace_write.writable_roots=["/srv/a"]',
        'model_reasoning_effort="high"',
        "tool_output_token_limit=2000",
        "model_providers.local.request_max_retries=0",
        "model_providers.local.stream_max_retries=0",
    ]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        # codex refuses retry settings for the providers it defines itself.
        ({"model_provider": "openai"}, ['model_provider="openai"']),
        # The owner's own bound wins.
        (
            {"model_provider": "p", "model_providers": {"p": {"stream_max_retries": 2}}},
            [
                'model_provider="p"',
                "model_providers.p.stream_max_retries=2",
                "model_providers.p.request_max_retries=0",
            ],
        ),
    ],
)
async def test_retry_bounds_only_where_codex_takes_them(
    tmp_path: Path, config: dict[str, Any], expected: list[str]
) -> None:
    ctx, _ = make_ctx(tmp_path, {"prompt": "hi"}, settings={"config": config})
    await CodexPlugin().run(ctx)
    argv = recorded_argv(tmp_path)
    assert [argv[i + 1] for i, arg in enumerate(argv) if arg == "-c"][len(QUIET) // 2 :] == expected


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("model=o3", "setting 'config' must be a table of codex config values"),
        (
            {"a b": 1},
            "setting 'config' must be keys of letters, digits, '_' and '-' (not 'a b')",
        ),
        ({"x": None}, "setting 'config.x' must be a string, number, boolean, list or table"),
        ({"x": ["a\x00"]}, "setting 'config.x' must be a string without NUL bytes"),
    ],
)
async def test_bad_config_setting_is_invalid_input(
    tmp_path: Path, config: Any, message: str
) -> None:
    ctx, _ = make_ctx(tmp_path, {"prompt": "hi"}, settings={"config": config})
    with pytest.raises(TaskFailed) as info:
        await CodexPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.INVALID_INPUT
    assert str(info.value) == message
    assert not (tmp_path / "argv.json").exists()


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
        # codex would take it for a thread name and, finding none, silently start a new thread.
        (
            {"prompt": "hi", "resume": "my-thread"},
            "input 'resume' must be a thread id (the UUID a run's session_id gives)",
        ),
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
