"""The gemini-cli adapter against the fake `gemini` in tests/fakes: argv, events, outcomes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from photon.errors import TaskFailed
from photon.model import FailureClass
from photon.plugins import load_plugins
from photon.plugins._cli import RunState
from photon.plugins.builtin.gemini_cli import GeminiCliPlugin, headless_settings
from photon.plugins.testing import check_conformance

from ._fake_cli import FAKES, FakeCli, alive, of_kind, recorded_argv

GEMINI = FAKES / "gemini"
SESSION = "c0ffee00-1234-4abc-9def-0123456789ab"
USAGE = {
    "input_tokens": 1500,
    "output_tokens": 340,
    "total_tokens": 1840,
    "cache_read_input_tokens": 900,
}

_fake = FakeCli(GEMINI, GeminiCliPlugin)


def make_ctx(tmp_path: Path, inputs: dict[str, Any], **kwargs: Any) -> Any:
    """The fake's context with HOME in tmp_path: the adapter keeps a Gemini home under it."""
    env = {"HOME": str(tmp_path / "home"), **kwargs.pop("env", {})}
    return _fake.make_ctx(tmp_path, inputs, env=env, **kwargs)


# --- declaration and discovery -------------------------------------------------------------


def test_registered_as_an_entry_point() -> None:
    loaded = load_plugins()
    assert "gemini-cli" not in loaded.errors
    plugin = loaded.plugins["gemini-cli"]
    assert isinstance(plugin, GeminiCliPlugin)
    assert plugin.default_action == "prompt"


async def test_detect_reports_the_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    detection = await GeminiCliPlugin().detect()
    assert detection.available
    assert detection.version == "0.21.0"


async def test_passes_the_conformance_suite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The suite runs the tool with the process's environment: keep its Gemini home in tmp_path.
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    await check_conformance(
        GeminiCliPlugin(),
        sample_inputs={"prompt": {"prompt": "hello"}},
        settings={"binary": str(GEMINI)},
    )


# --- successful runs -------------------------------------------------------------------------


async def test_success_outputs_events_and_command_line(tmp_path: Path) -> None:
    ctx, events = make_ctx(tmp_path, {"prompt": "hello"})
    outputs = await GeminiCliPlugin().run(ctx)

    assert outputs == {
        "result": "I'll list the files.\n\nDone: hello",
        "session_id": SESSION,
        "usage": USAGE,
        "cost_usd": None,
        "num_turns": None,
    }
    assert recorded_argv(tmp_path) == ["-p", "hello", "--output-format", "stream-json"]
    assert [(kind, message) for kind, message, _ in events] == [
        ("status", f"session {SESSION} started (model gemini-2.5-pro)"),
        ("log", "I'll list the files."),  # two pieces of one line: one event
        ("tool_call", 'run_shell_command {"command": "ls"}'),
        ("tool_result", "README.md"),
        ("log", "Done: hello"),
        ("usage", ""),
    ]
    assert events[2][2] == {
        "tool": "run_shell_command",
        "id": "run_shell_command-1",
        "input": {"command": "ls"},
    }
    assert events[3][2] == {"id": "run_shell_command-1", "is_error": False}
    assert events[-1][2] == {"scope": "total", **USAGE}


async def test_inputs_and_settings_shape_the_command_line(tmp_path: Path) -> None:
    inputs = {
        "prompt": "-x marks the spot",
        "model": "gemini-2.5-flash",
        "permission_mode": "auto_edit",
        "resume": "latest",
        "extra_args": ["--include-directories", "../shared"],
    }
    settings = {
        "model": "gemini-2.5-pro",
        "approval_mode": "yolo",
        "extra_args": ["--debug"],
    }
    ctx, events = make_ctx(tmp_path, inputs, settings=settings)
    outputs = await GeminiCliPlugin().run(ctx)
    assert recorded_argv(tmp_path) == [
        "--prompt=-x marks the spot",
        "--output-format",
        "stream-json",
        "-m",
        "gemini-2.5-flash",
        "--approval-mode",
        "auto_edit",
        "--resume",
        "latest",
        "--debug",
        "--include-directories",
        "../shared",
    ]
    assert outputs["result"] == "I'll list the files.\n\nDone: -x marks the spot"
    assert events[0][1] == f"session {SESSION} started (model gemini-2.5-flash)"


async def test_approval_mode_only_when_settings_ask(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, {"prompt": "hi"}, settings={"approval_mode": "yolo"})
    await GeminiCliPlugin().run(ctx)
    assert recorded_argv(tmp_path) == [
        "-p",
        "hi",
        "--output-format",
        "stream-json",
        "--approval-mode",
        "yolo",
    ]


async def test_resume_by_id_takes_the_session_from_the_stream(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, {"prompt": "more", "resume": "abc-123"})
    outputs = await GeminiCliPlugin().run(ctx)
    assert recorded_argv(tmp_path)[-2:] == ["--resume", "abc-123"]
    assert outputs["session_id"] == "abc-123"


async def test_tool_calls_and_results_in_order(tmp_path: Path) -> None:
    ctx, events = make_ctx(tmp_path, {"prompt": "edit"}, scenario="tool_calls")
    outputs = await GeminiCliPlugin().run(ctx)
    assert outputs["result"] == "Edited README.md."
    assert [(k, m if k == "tool_result" else d["tool"]) for k, m, d in events if "tool" in k] == [
        ("tool_call", "read_file"),
        ("tool_result", "# Project"),
        ("tool_call", "replace"),
        ("tool_result", "Failed to edit, 0 occurrences found"),
    ]
    assert [d["is_error"] for _, _, d in of_kind(events, "tool_result")] == [False, True]


async def test_denied_tool_is_reported_but_the_run_succeeds(tmp_path: Path) -> None:
    # Gemini CLI's own rule: result status "success" and exit 0 mean success.
    ctx, events = make_ctx(tmp_path, {"prompt": "clean"}, scenario="permission_denied")
    outputs = await GeminiCliPlugin().run(ctx)
    assert outputs["result"] == "I could not run the command."
    assert of_kind(events, "tool_result") == [
        (
            "tool_result",
            "Tool execution denied by policy.",
            {"id": "run_shell_command-1", "is_error": True},
        )
    ]


async def test_noise_lines_and_unknown_events_are_tolerated(tmp_path: Path) -> None:
    ctx, events = make_ctx(tmp_path, {"prompt": "hello"}, scenario="noise")
    outputs = await GeminiCliPlugin().run(ctx)
    assert outputs["result"] == "Done: hello"
    assert [m for _, m, d in of_kind(events, "log") if d.get("stream") == "stdout"] == [
        "Loaded cached credentials.",
        "Warning: the current folder is not trusted; approval mode forced to default.",
        "[1, 2]",
        "{oops",
    ]
    # A warning is logged but does not fail a run that ends well.
    assert (
        "log",
        "Attempt 1 failed with status 503. Retrying...",
        {"severity": "warning"},
    ) in events
    assert [k for k, _, _ in events if k != "log"] == ["status", "usage"]


async def test_cwd_input_picks_a_directory_inside_the_workspace(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, {"prompt": "hi", "cwd": "repo"})
    (ctx.workdir / "repo").mkdir()
    done = await GeminiCliPlugin().run(ctx)
    assert done["result"].endswith("Done: hi")


# --- failures --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "failure_class", "message"),
    [
        (
            "rate_limit",
            FailureClass.QUOTA,
            r"^gemini hit a quota or rate limit: \[API Error: got status: 429",
        ),
        (
            "auth",
            FailureClass.AUTH,
            r"^gemini authentication failed \(exit 41\): Please set an Auth method",
        ),
        (
            "bad_input",
            FailureClass.INVALID_INPUT,
            r"^gemini input rejected \(exit 42\): Error: --resume 99",
        ),
        (
            "max_turns",
            FailureClass.TOOL_ERROR,
            r"^gemini turn limit reached \(exit 53\): Reached max session turns",
        ),
        (
            "cut",
            FailureClass.TOOL_ERROR,
            r"^stream ended without a result event \(exit -9\)$",
        ),
        (
            "nonzero",
            FailureClass.TOOL_ERROR,
            r"^stream ended without a result event \(exit 2\): Error: unexpected internal failure$",
        ),
    ],
)
async def test_failures_are_classified(
    tmp_path: Path, scenario: str, failure_class: FailureClass, message: str
) -> None:
    ctx, _ = make_ctx(tmp_path, {"prompt": "hello"}, scenario=scenario)
    with pytest.raises(TaskFailed, match=message) as info:
        await GeminiCliPlugin().run(ctx)
    assert info.value.failure_class is failure_class


@pytest.mark.parametrize(
    ("scenario", "failure_class", "message"),
    [
        (
            "unauthenticated",
            FailureClass.AUTH,
            "gemini authentication failed (HTTP 401 UNAUTHENTICATED):"
            " Request had invalid authentication credentials.",
        ),
        (
            "bad_key",
            FailureClass.AUTH,
            "gemini authentication failed (HTTP 400 INVALID_ARGUMENT):"
            " API key not valid. Please pass a valid API key.",
        ),
        (
            # Transient, although the CLI's stderr calls it a RetryableQuotaError.
            "overloaded",
            FailureClass.TOOL_ERROR,
            "gemini API unavailable (HTTP 503):"
            " [API Error: The model is overloaded. Please try again later.]",
        ),
        (
            "untrusted",
            FailureClass.INVALID_INPUT,
            "gemini refused the untrusted folder (PHOTON trusts the task's workspace unless the"
            " tool's env sets GEMINI_CLI_TRUST_WORKSPACE=false or GEMINI_RESTRICTED_MODE=true)"
            " (exit 55): Gemini CLI is not running in a trusted directory. To proceed, either use"
            " `--skip-trust`, set the `GEMINI_CLI_TRUST_WORKSPACE=true` environment variable, or"
            " trust this directory in interactive mode.",
        ),
        (
            "unknown_session",
            FailureClass.INVALID_INPUT,
            "gemini input rejected (exit 42): Error resuming session:"
            ' Invalid session identifier "x".',
        ),
    ],
)
async def test_api_errors_as_the_real_cli_reports_them(
    tmp_path: Path, scenario: str, failure_class: FailureClass, message: str
) -> None:
    ctx, _ = make_ctx(tmp_path, {"prompt": "hello", "resume": "x"}, scenario=scenario)
    with pytest.raises(TaskFailed) as info:
        await GeminiCliPlugin().run(ctx)
    assert (info.value.failure_class, str(info.value)) == (failure_class, message)
    assert info.value.retry_at is None


async def test_a_429_the_cli_gave_up_on_is_quota_with_its_retry_time(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, {"prompt": "hello"}, scenario="quota_exhausted")
    started = time.time()
    with pytest.raises(TaskFailed) as info:
        await GeminiCliPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.QUOTA
    assert str(info.value).startswith(
        "gemini hit a quota or rate limit (HTTP 429): [API Error: You exceeded your current quota"
    )
    assert info.value.retry_at is not None
    assert started + 2 <= info.value.retry_at <= time.time() + 2


QUOTA_NOTICE = (
    "Attempt 1 failed: You exceeded your current quota, please check your plan.\n"
    "Suggested retry after 2s.. Retrying after 5783ms..."
)
OVERLOADED_NOTICE = (
    "Attempt 1 failed with status 503. Retrying with backoff... _ApiError:"
    ' {"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}'
)


@pytest.mark.parametrize(
    ("notice", "failure_class", "message", "delay"),
    [
        (
            QUOTA_NOTICE,
            FailureClass.QUOTA,
            "gemini hit a quota or rate limit: Attempt 1 failed: You exceeded your current"
            " quota, please check your plan. Suggested retry after 2s.. Retrying after 5783ms...",
            2.0,
        ),
        (
            OVERLOADED_NOTICE,
            FailureClass.TOOL_ERROR,
            "gemini API unavailable (HTTP 503 UNAVAILABLE): The model is overloaded.",
            None,
        ),
    ],
)
async def test_the_clis_own_retries_are_stopped_at_their_first_notice(
    tmp_path: Path, notice: str, failure_class: FailureClass, message: str, delay: float | None
) -> None:
    # The fake waits a minute after its notice, as the CLI would before retrying.
    ctx, _ = make_ctx(
        tmp_path, {"prompt": "hello"}, scenario="retrying", env={"PHOTON_FAKE_NOTICE": notice}
    )
    started = time.time()
    with pytest.raises(TaskFailed) as info:
        await GeminiCliPlugin().run(ctx)
    assert time.time() - started < 30
    assert (info.value.failure_class, str(info.value)) == (failure_class, message)
    if delay is None:
        assert info.value.retry_at is None
    else:
        assert info.value.retry_at is not None
        assert started + delay <= info.value.retry_at <= time.time() + delay


# --- the environment: quiet, trusted, retries bounded, the user's ~/.gemini untouched ----------


def test_environment_is_headless_and_quiet(tmp_path: Path) -> None:
    home = tmp_path / "home"
    user_dir = home / ".gemini"
    user_dir.mkdir(parents=True)
    user_settings = {"model": {"name": "gemini-2.5-pro"}, "general": {"maxAttempts": 7}}
    (user_dir / "settings.json").write_text(json.dumps(user_settings))
    (user_dir / "oauth_creds.json").write_text("{}")
    ctx, events = make_ctx(tmp_path, {"prompt": "hi"})

    env = GeminiCliPlugin().environment(ctx)

    assert env["GEMINI_TELEMETRY_ENABLED"] == "false"
    assert env["GEMINI_CLI_TRUST_WORKSPACE"] == "true"
    assert env["GEMINI_CLI_NO_RELAUNCH"] == "true"
    gemini_home = Path(env["GEMINI_CLI_HOME"])
    assert home / ".cache" / "photon" / "gemini-cli" in gemini_home.parents
    settings = json.loads((gemini_home / ".gemini" / "settings.json").read_text())
    assert settings["model"] == {"name": "gemini-2.5-pro"}  # the user's own settings stay
    assert settings["general"]["maxAttempts"] == 1  # PHOTON's retry policy owns retries
    assert settings["general"]["enableAutoUpdate"] is False
    assert settings["general"]["enableAutoUpdateNotification"] is False
    assert settings["privacy"]["usageStatisticsEnabled"] is False
    # The rest of the user's folder is seen through links; the folder itself is unchanged.
    link = gemini_home / ".gemini" / "oauth_creds.json"
    assert link.is_symlink() and link.resolve() == (user_dir / "oauth_creds.json").resolve()
    assert json.loads((user_dir / "settings.json").read_text()) == user_settings
    assert sorted(p.name for p in user_dir.iterdir()) == ["oauth_creds.json", "settings.json"]
    assert events == []

    (user_dir / "oauth_creds.json").unlink()
    GeminiCliPlugin().environment(ctx)
    assert not link.is_symlink(), "a link to an entry the user removed is dropped"


def test_the_tools_env_can_override_the_defaults(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, {"prompt": "hi"}, env={"GEMINI_CLI_TRUST_WORKSPACE": "false"})
    assert GeminiCliPlugin().environment(ctx)["GEMINI_CLI_TRUST_WORKSPACE"] == "false"


def test_unreadable_user_settings_are_reported_not_fatal(tmp_path: Path) -> None:
    user_dir = tmp_path / "home" / ".gemini"
    user_dir.mkdir(parents=True)
    (user_dir / "settings.json").write_text("{ // a comment\n }")
    ctx, events = make_ctx(tmp_path, {"prompt": "hi"})
    env = GeminiCliPlugin().environment(ctx)
    settings = json.loads((Path(env["GEMINI_CLI_HOME"]) / ".gemini" / "settings.json").read_text())
    assert settings["general"]["maxAttempts"] == 1
    [(kind, message, data)] = events
    assert (kind, data) == ("log", {"severity": "warning"})
    assert message.startswith(f"gemini-cli: {user_dir / 'settings.json'} not used (")


async def test_a_home_that_cannot_be_prepared_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "home").write_text("a file where the home should be")
    ctx, _ = make_ctx(tmp_path, {"prompt": "hi"})
    with pytest.raises(
        TaskFailed, match=r"^gemini-cli: cannot prepare PHOTON's Gemini home: "
    ) as info:
        await GeminiCliPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.TOOL_ERROR


API_KEY_ENV = {"GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:1", "GEMINI_API_KEY": "k"}


@pytest.mark.parametrize(
    ("user", "env", "selected"),
    [
        # With a base URL the CLI would pick "gateway", which headless runs refuse.
        ({}, API_KEY_ENV, "gemini-api-key"),
        ({"security": {"auth": {"selectedType": "oauth-personal"}}}, API_KEY_ENV, "oauth-personal"),
        ({}, {**API_KEY_ENV, "GOOGLE_GENAI_USE_VERTEXAI": "true"}, None),
        ({}, {"GEMINI_API_KEY": "k"}, None),
        ({}, {"GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:1"}, None),
    ],
)
def test_auth_type_is_chosen_only_for_an_api_key_with_a_base_url(
    user: dict[str, Any], env: dict[str, str], selected: str | None
) -> None:
    settings = headless_settings(user, env)
    assert settings.get("security", {}).get("auth", {}).get("selectedType") == selected
    assert settings["general"]["maxAttempts"] == 1


async def test_rate_limit_carries_the_suggested_retry_time(tmp_path: Path) -> None:
    ctx, events = make_ctx(tmp_path, {"prompt": "hello"}, scenario="rate_limit")
    before = time.time()
    with pytest.raises(TaskFailed) as info:
        await GeminiCliPlugin().run(ctx)
    assert info.value.retry_at is not None
    assert before + 37.5 <= info.value.retry_at <= time.time() + 37.5
    assert [m for _, m, d in of_kind(events, "log") if d.get("stream") == "stdout"] == [
        "Attempt 1 failed with status 429. Retrying with backoff..."
    ]
    assert of_kind(events, "usage"), "the failed result still reports its token counts"


async def test_missing_binary_is_tool_missing(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, {"prompt": "hi"}, settings={"binary": str(tmp_path / "nope")})
    with pytest.raises(TaskFailed) as info:
        await GeminiCliPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.TOOL_MISSING


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({}, "prompt"),
        ({"prompt": "x", "cwd": "../outside"}, "cwd"),
        ({"prompt": "x", "cwd": "ok/../../outside"}, "cwd"),
        ({"prompt": "x", "max_turns": 5}, "max_turns"),
        ({"prompt": "x", "disallowed_tools": ["run_shell_command"]}, "disallowed_tools"),
        ({"prompt": "x", "resume": 3}, "resume"),
        ({"prompt": "x", "extra_args": "--debug"}, "extra_args"),
    ],
)
async def test_bad_inputs_are_refused_before_starting(
    tmp_path: Path, inputs: dict[str, Any], field: str
) -> None:
    ctx, events = make_ctx(tmp_path, inputs)
    with pytest.raises(TaskFailed, match=f"'{field}'") as info:
        await GeminiCliPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.INVALID_INPUT
    assert not (tmp_path / "argv.json").exists()
    assert events == []


async def test_cancel_kills_the_tool_and_its_children(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, {"prompt": "hello"}, scenario="slow")
    pidfile = tmp_path / "pids"
    run = asyncio.create_task(GeminiCliPlugin().run(ctx))
    deadline = time.monotonic() + 10
    while not pidfile.exists():
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


# --- the fake itself speaks the real flags -----------------------------------------------------


def run_fake(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GEMINI), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PHOTON_FAKE_SCENARIO": "success"},
        timeout=30,
    )


def test_fake_json_format_prints_one_document() -> None:
    done = run_fake("-p", "hi", "--output-format", "json")
    assert done.returncode == 0
    document = json.loads(done.stdout)
    assert document["response"] == "I'll list the files.Done: hi"
    assert document["session_id"] == SESSION
    assert set(document["stats"]) == {"models", "tools", "files"}


def test_fake_rejects_yolo_with_approval_mode_and_a_dash_prompt() -> None:
    both = run_fake("-p", "hi", "--yolo", "--approval-mode", "yolo")
    assert both.returncode == 1
    assert "Cannot use both --yolo (-y) and --approval-mode" in both.stderr
    dash = run_fake("-p", "-x", "--output-format", "stream-json")
    assert dash.returncode == 1
    assert "Not enough arguments following: prompt" in dash.stderr


def test_a_reply_streamed_in_pieces_is_logged_a_line_at_a_time() -> None:
    plugin, state, logged = GeminiCliPlugin(), RunState(), []

    def emit(kind: str, message: str = "", **data: Any) -> None:
        if kind == "log":
            logged.append(message)

    ctx: Any = SimpleNamespace(emit=emit)
    for piece in ["Two li", "nes\nand a", " third", "\n", "then a tool"]:
        event = {"type": "message", "role": "assistant", "content": piece, "delta": True}
        plugin.handle_event(event, state, ctx)
    assert logged == ["Two lines", "and a third"]  # "then a tool" waits for its line's end
    plugin.handle_event({"type": "tool_use", "tool_name": "ls", "parameters": {}}, state, ctx)
    assert logged[-1] == "then a tool"
    plugin.handle_event(
        {"type": "message", "role": "assistant", "content": "end", "delta": True}, state, ctx
    )
    plugin.handle_event({"type": "result", "status": "success", "stats": {}}, state, ctx)
    assert logged[-1] == "end"
    assert state.text == "Two lines\nand a third\nthen a tool\n\nend"
